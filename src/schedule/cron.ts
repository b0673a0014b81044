import cron from 'node-cron';
import { UsageError } from '../util/errors.js';

/**
 * Cron expressions, checked to the common subset that Kubernetes CronJobs (robfig/cron's standard parser)
 * and node-cron (the `schedule` daemon) read the same way:
 *
 *   minute hour day-of-month month day-of-week          (5 fields: production)
 *   second minute hour day-of-month month day-of-week   (6 fields: only with allowSeconds, for tests)
 *
 * Each field is `*`, a number, a range `a-b`, a step `* /n` or `a-b/n` (no space), or a comma list of those;
 * months and weekdays also take three-letter names (`jan`, `mon`). Extensions that only one side knows
 * (`L`, `W`, `#`, `?`, `@daily`, `TZ=`) are rejected, and so is restricting both day-of-month and
 * day-of-week: standard cron runs when *either* matches, node-cron only when *both* do.
 */
export interface CronFields {
  second: number[];
  minute: number[];
  hour: number[];
  dayOfMonth: number[];
  month: number[];
  dayOfWeek: number[];
  /** Whether the field was restricted (not `*`), which decides how the day fields combine. */
  restricted: { dayOfMonth: boolean; dayOfWeek: boolean };
}

export interface CronParseOptions {
  /** Accept a leading seconds field (6 fields). Production schedules use 5. */
  allowSeconds?: boolean;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface FieldSpec {
  name: keyof Omit<CronFields, 'restricted'>;
  min: number;
  max: number;
  names?: string[];
  /** Value of the first name (jan = 1, sun = 0). */
  nameBase?: number;
}

const FIELD_SPECS: FieldSpec[] = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'dayOfMonth', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, nameBase: 1 },
  // 7 is accepted as Sunday (both parsers do) and folded to 0.
  { name: 'dayOfWeek', min: 0, max: 7, names: DAYS, nameBase: 0 },
];

export class CronError extends UsageError {
  constructor(expression: string, problem: string) {
    super(`cron expression "${expression}": ${problem}`);
    this.name = 'CronError';
  }
}

function parseValue(raw: string, spec: FieldSpec, expr: string): number {
  const lower = raw.toLowerCase();
  if (spec.names) {
    const i = spec.names.indexOf(lower);
    if (i >= 0) return i + (spec.nameBase ?? 0);
  }
  if (!/^\d+$/.test(raw)) throw new CronError(expr, `${spec.name}: "${raw}" is not a number${spec.names ? ' or a name' : ''}`);
  const n = Number(raw);
  if (n < spec.min || n > spec.max) throw new CronError(expr, `${spec.name}: ${n} is outside ${spec.min}-${spec.max}`);
  return n;
}

function parseField(text: string, spec: FieldSpec, expr: string): { values: number[]; restricted: boolean } {
  if (text === '') throw new CronError(expr, `${spec.name}: empty field`);
  if (/[LW#?]/i.test(text.replace(/[a-z]{3}/gi, (m) => (spec.names?.includes(m.toLowerCase()) ? '' : m)))) {
    throw new CronError(expr, `${spec.name}: "${text}" uses L, W, # or ?, which Kubernetes CronJobs and node-cron read differently`);
  }
  const out = new Set<number>();
  let restricted = false;
  for (const part of text.split(',')) {
    if (part === '') throw new CronError(expr, `${spec.name}: empty list item in "${text}"`);
    const [range, stepText, extra] = part.split('/');
    if (extra !== undefined) throw new CronError(expr, `${spec.name}: "${part}" has more than one /`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0) throw new CronError(expr, `${spec.name}: step "${stepText}" must be a positive number`);
      step = Number(stepText);
    }
    let lo: number;
    let hi: number;
    if (range === '*') {
      lo = spec.min;
      hi = spec.name === 'dayOfWeek' ? 6 : spec.max;
      if (stepText !== undefined) restricted = true;
    } else {
      restricted = true;
      const bounds = range.split('-');
      if (bounds.length > 2 || bounds.some((b) => b === '')) throw new CronError(expr, `${spec.name}: "${range}" is not a value or a range a-b`);
      lo = parseValue(bounds[0], spec, expr);
      hi = bounds.length === 2 ? parseValue(bounds[1], spec, expr) : stepText !== undefined ? spec.max : lo;
      // A single value with a step (`5/15`) means "from 5 to the end" in robfig/cron; node-cron agrees.
      if (lo > hi) throw new CronError(expr, `${spec.name}: range "${range}" runs backwards (node-cron would wrap it around, Kubernetes rejects it)`);
    }
    for (let v = lo; v <= hi; v += step) out.add(spec.name === 'dayOfWeek' && v === 7 ? 0 : v);
  }
  return { values: [...out].sort((a, b) => a - b), restricted };
}

/** Parses and checks an expression; throws CronError (a UsageError: exit code 2) naming the problem. */
export function parseCron(expression: string, opts: CronParseOptions = {}): CronFields {
  const expr = expression.trim();
  if (expr.startsWith('@')) throw new CronError(expression, 'macros like @daily are not accepted: write the five fields');
  if (/^(CRON_)?TZ=/i.test(expr)) throw new CronError(expression, 'a TZ= prefix is not accepted: set the time zone separately (schedules.timeZone, CronJob spec.timeZone)');
  const parts = expr.split(/\s+/);
  if (parts.length === 6 && !opts.allowSeconds) {
    throw new CronError(expression, 'six fields (with seconds) are only accepted for testing (GUSHEN_DR_SCHEDULE_SECONDS=1); production schedules have five: minute hour day-of-month month day-of-week');
  }
  if (parts.length !== 5 && parts.length !== 6) {
    throw new CronError(expression, `expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`);
  }
  const withSeconds = parts.length === 6 ? parts : ['0', ...parts];
  const fields = {} as CronFields;
  const restricted = { dayOfMonth: false, dayOfWeek: false };
  FIELD_SPECS.forEach((spec, i) => {
    const f = parseField(withSeconds[i], spec, expression);
    fields[spec.name] = f.values;
    if (spec.name === 'dayOfMonth' || spec.name === 'dayOfWeek') restricted[spec.name] = f.restricted;
  });
  fields.restricted = restricted;
  if (restricted.dayOfMonth && restricted.dayOfWeek) {
    throw new CronError(
      expression,
      'both day-of-month and day-of-week are restricted: Kubernetes runs when either matches, node-cron only when both do; restrict only one of them',
    );
  }
  // Belt and braces: whatever passed here must also be accepted by node-cron, which does the scheduling.
  if (!cron.validate(parts.join(' '))) throw new CronError(expression, 'node-cron does not accept it');
  return fields;
}

/** Whether a time (as wall-clock fields in the schedule's zone) matches. */
export function cronMatches(f: CronFields, t: { second: number; minute: number; hour: number; day: number; month: number; weekday: number }): boolean {
  if (!f.second.includes(t.second) || !f.minute.includes(t.minute) || !f.hour.includes(t.hour) || !f.month.includes(t.month)) return false;
  // Only one of the day fields may be restricted (parseCron), so AND and OR agree here.
  return f.dayOfMonth.includes(t.day) && f.dayOfWeek.includes(t.weekday);
}

/** Throws a UsageError unless `tz` is an IANA time zone this runtime knows. */
export function checkTimeZone(tz: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new UsageError(`time zone "${tz}": not an IANA time zone name (e.g. Asia/Shanghai, UTC)`);
  }
  return tz;
}

const partsFormatCache = new Map<string, Intl.DateTimeFormat>();

/** Wall-clock fields of `at` in zone `tz`. */
export function wallClock(at: Date, tz: string): { second: number; minute: number; hour: number; day: number; month: number; weekday: number; year: number } {
  let fmt = partsFormatCache.get(tz);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
    });
    partsFormatCache.set(tz, fmt);
  }
  const p = Object.fromEntries(fmt.formatToParts(at).map((x) => [x.type, x.value]));
  return {
    year: Number(p.year),
    month: Number(p.month),
    day: Number(p.day),
    hour: Number(p.hour),
    minute: Number(p.minute),
    second: Number(p.second),
    weekday: DAYS.indexOf(String(p.weekday).toLowerCase()),
  };
}

/**
 * The next `count` times after `after` that the expression matches in zone `tz`, by stepping minute by
 * minute (second by second for six-field expressions). Independent of node-cron, so the two can be
 * compared; bounded to `horizonDays`.
 */
export function nextMatches(f: CronFields, tz: string, after: Date, count: number, horizonDays = 800): Date[] {
  const out: Date[] = [];
  const everySecond = f.second.length !== 1 || f.second[0] !== 0;
  const stepMs = everySecond ? 1000 : 60_000;
  let t = Math.floor(after.getTime() / stepMs) * stepMs + stepMs;
  const end = after.getTime() + horizonDays * 86_400_000;
  while (out.length < count && t <= end) {
    const w = wallClock(new Date(t), tz);
    if (!f.month.includes(w.month) || !f.dayOfMonth.includes(w.day) || !f.dayOfWeek.includes(w.weekday)) {
      // Skip towards the next wall-clock midnight, keeping a 2-hour margin for daylight-saving shifts.
      const toMidnight = ((23 - w.hour) * 60 + (59 - w.minute)) * 60_000 + (60 - w.second) * 1000;
      t += Math.max(stepMs, toMidnight - 2 * 3_600_000);
      continue;
    }
    if (!f.hour.includes(w.hour)) {
      t += Math.max(stepMs, ((59 - w.minute) * 60 + (60 - w.second)) * 1000);
      continue;
    }
    if (cronMatches(f, w)) out.push(new Date(t));
    t += stepMs;
  }
  return out;
}
