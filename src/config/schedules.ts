import { BUILTIN_SCHEDULES, SCHEDULES_SETTINGS, type Config, type RetentionPolicy, type ScheduleDef, type SourceName } from './schema.js';
import { UsageError } from '../util/errors.js';

/** One backup schedule as the rest of gushen-dr sees it, whichever way the config wrote it. */
export interface BackupSchedule {
  name: string;
  /** Five-field cron expression `gushen-dr schedule` runs it on; none: run from elsewhere (or by hand). */
  cron?: string;
  /** The sources its backups cover; none: every configured source. */
  only?: SourceName[];
  retention: RetentionPolicy;
}

/**
 * Every backup schedule: `manual`, `nightly` and `monthly` always (their retention: `schedules.<name>.retention`,
 * else the `retention.<name>` shorthand as `keepLast`), then each named one under `schedules`, in config order.
 * The schema (src/config/schema.ts) has already refused a new schedule without retention.
 */
export function backupSchedules(config: Config): BackupSchedule[] {
  const defs = new Map<string, ScheduleDef>();
  for (const [name, value] of Object.entries(config.schedules)) {
    if (SCHEDULES_SETTINGS.includes(name)) continue;
    defs.set(name, typeof value === 'string' ? { cron: value } : (value as ScheduleDef));
  }
  const out: BackupSchedule[] = [];
  for (const name of BUILTIN_SCHEDULES) {
    const def = defs.get(name) ?? {};
    out.push({ name, cron: def.cron, only: def.only as SourceName[] | undefined, retention: def.retention ?? { keepLast: config.retention[name] } });
  }
  for (const [name, def] of defs) {
    if ((BUILTIN_SCHEDULES as readonly string[]).includes(name)) continue;
    if (!def.retention) throw new UsageError(`schedules.${name}.retention: required`);
    out.push({ name, cron: def.cron, only: def.only as SourceName[] | undefined, retention: def.retention });
  }
  return out;
}

/** The schedule `backup --schedule <name>` names; an unknown name is bad usage, refused before anything runs. */
export function backupSchedule(config: Config, name: string): BackupSchedule {
  const all = backupSchedules(config);
  const found = all.find((s) => s.name === name);
  if (!found) throw new UsageError(`--schedule ${name}: no such schedule (known: ${all.map((s) => s.name).join(', ')}; add it under schedules in the config)`);
  return found;
}

/** The time zone retention's hours, days, weeks and months are counted in: the schedules' own, else UTC. */
export function retentionTimeZone(config: Config): string {
  return config.schedules.timeZone ?? 'UTC';
}
