export { Scheduler, type BackupScheduleName, type DrillJobResult, type JobName, type RunRecord, type ScheduleJobs, type SchedulerOptions } from './scheduler.js';
export { CronError, checkTimeZone, cronMatches, nextMatches, parseCron, wallClock, type CronFields, type CronParseOptions } from './cron.js';
export { SchedulerMetrics } from './metrics.js';
export { parseListen, startStatusServer, type StatusServer, type StatusServerHandlers } from './server.js';
