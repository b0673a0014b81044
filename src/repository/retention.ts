import type { RetentionPolicy, SourceName } from '../config/schema.js';
import { parseDuration } from '../util/duration.js';
import { hasVerifiedArtifact, holdsCopy, type CatalogEntry } from './catalog.js';

/**
 * Retention, as a pure plan over the catalog. What it may delete, and the rules that take precedence:
 *
 * 1. Never a backup whose manifest it could not read (`Unreadable`: bad JSON, an unknown formatVersion, one field
 *    too many, a failed GET) or does not trust (`Unsigned`, `BadSignature`): it cannot know what that backup holds.
 *    `prune` refuses to run at all while any manifest is unreadable (src/repository/prune.ts).
 * 2. Never the newest Completed copy of a configured source (a `backup --only` run covers only some sources), nor,
 *    for a source no Completed backup holds, the newest PartiallyFailed backup with a verified artifact of it.
 * 3. Never the newest Completed backup of a schedule.
 * 4. Completed backups of a schedule: kept when any rule of the schedule's policy matches (GFS), else deleted.
 *    A schedule without a policy in the config (one that was removed from it) keeps all of its backups.
 * 5. What is proven incomplete (no manifest, or a manifest saying Failed / PartiallyFailed): deleted once older than
 *    `incompleteAfterHours` (a younger one may still be running).
 * Anything under backups/ whose directory name is not a backup id is not gushen-dr's: left alone.
 */
export interface RetentionInput {
  /** The catalog, any order. */
  entries: CatalogEntry[];
  /** The policy of a schedule, or undefined when the config has none for it. */
  policy: (schedule: string) => RetentionPolicy | undefined;
  /** The configured sources, whose newest copies are never deleted. */
  sources: readonly SourceName[];
  incompleteAfterHours: number;
  now: Date;
  /** Time zone of the hourly/daily/weekly/monthly buckets (IANA name); default UTC. */
  timeZone?: string;
}

export interface RetentionDecision {
  id: string;
  status: CatalogEntry['status'];
  action: 'keep' | 'delete';
  /** Every rule that keeps it (`; `-separated), or why it goes. */
  reason: string;
  /** The configured sources whose newest copy this backup is (rule 2). */
  newestCopyOf?: SourceName[];
}

const UNTRUSTED = new Set(['Unsigned', 'BadSignature']);

/** The plan, one decision per entry, in the entries' order. */
export function planRetention(input: RetentionInput): RetentionDecision[] {
  const { entries, now } = input;
  const keep = new Map<string, string[]>();
  const addKeep = (id: string, why: string) => keep.set(id, [...(keep.get(id) ?? []), why]);
  const newestFirst = [...entries].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const readable = newestFirst.filter((e) => e.manifest && e.startedAt);

  // Rule 2: the newest copy of every configured source.
  const newestCopyOf = new Map<string, SourceName[]>();
  for (const source of input.sources) {
    const completed = readable.find((e) => e.status === 'Completed' && holdsCopy(e.manifest!, source));
    const partial = completed ? undefined : readable.find((e) => e.status === 'PartiallyFailed' && hasVerifiedArtifact(e.manifest!, source));
    const holder = completed ?? partial;
    if (!holder) continue;
    newestCopyOf.set(holder.id, [...(newestCopyOf.get(holder.id) ?? []), source]);
    addKeep(holder.id, completed ? `newest Completed copy of ${source}` : `newest verified copy of ${source} (no Completed backup holds one)`);
  }

  // Rules 3 and 4, schedule by schedule.
  const schedules = new Set(readable.filter((e) => e.status === 'Completed').map((e) => e.schedule));
  for (const schedule of schedules) {
    const completed = readable.filter((e) => e.status === 'Completed' && e.schedule === schedule);
    addKeep(completed[0].id, `newest Completed ${schedule} backup`);
    const policy = input.policy(schedule);
    if (!policy) {
      for (const e of completed) addKeep(e.id, `no retention for schedule ${schedule} in the config`);
      continue;
    }
    for (const [id, why] of policyKeeps(completed, policy, now, input.timeZone ?? 'UTC')) addKeep(id, why);
  }

  const cutoff = now.getTime() - input.incompleteAfterHours * 3_600_000;
  const decisions = new Map<string, RetentionDecision>();
  for (const e of entries) {
    const kept = keep.get(e.id);
    const base = { id: e.id, status: e.status, ...(newestCopyOf.has(e.id) ? { newestCopyOf: newestCopyOf.get(e.id) } : {}) };
    if (!e.startedAt) {
      decisions.set(e.id, { ...base, action: 'keep', reason: 'not a backup id: not gushen-dr’s, left alone' });
    } else if (e.status === 'Unreadable') {
      decisions.set(e.id, { ...base, action: 'keep', reason: `manifest unreadable, never deleted: ${e.problem ?? 'unknown error'}` });
    } else if (UNTRUSTED.has(e.status)) {
      decisions.set(e.id, { ...base, action: 'keep', reason: `${e.status}: manifest not trusted; kept for an operator to look at (delete by hand)` });
    } else if (kept) {
      decisions.set(e.id, { ...base, action: 'keep', reason: kept.join('; ') });
    } else if (e.status === 'Completed') {
      decisions.set(e.id, { ...base, action: 'delete', reason: `matches no retention rule of schedule ${e.schedule}` });
    } else if (e.startedAt.getTime() < cutoff) {
      decisions.set(e.id, { ...base, action: 'delete', reason: `${e.status} and older than ${input.incompleteAfterHours} h` });
    } else {
      decisions.set(e.id, { ...base, action: 'keep', reason: `${e.status} but younger than ${input.incompleteAfterHours} h (may still be running)` });
    }
  }
  return entries.map((e) => decisions.get(e.id)!);
}

type Bucket = 'hourly' | 'daily' | 'weekly' | 'monthly';
const BUCKET_RULES: Array<[Bucket, keyof RetentionPolicy]> = [
  ['hourly', 'keepHourly'],
  ['daily', 'keepDaily'],
  ['weekly', 'keepWeekly'],
  ['monthly', 'keepMonthly'],
];

/** The backups (newest first) one policy keeps, each with the rule that does. */
export function policyKeeps(newestFirst: CatalogEntry[], policy: RetentionPolicy, now: Date, timeZone: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (policy.keepLast) newestFirst.slice(0, policy.keepLast).forEach((e, i) => out.push([e.id, `keepLast ${i + 1}/${policy.keepLast}`]));
  for (const [bucket, key] of BUCKET_RULES) {
    const n = policy[key] as number | undefined;
    if (!n) continue;
    // Newest first, so the first backup seen in a bucket is that bucket's newest; the n newest buckets count.
    let last: string | undefined;
    let count = 0;
    for (const e of newestFirst) {
      if (count >= n) break;
      const b = bucketOf(e.startedAt!, bucket, timeZone);
      if (b === last) continue;
      last = b;
      count += 1;
      out.push([e.id, `${key} ${b}`]);
    }
  }
  if (policy.keepWithin) {
    const since = now.getTime() - parseDuration(policy.keepWithin)!;
    for (const e of newestFirst) if (e.startedAt!.getTime() >= since) out.push([e.id, `keepWithin ${policy.keepWithin}`]);
  }
  return out;
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** The bucket a time falls in, as a label: `2026-11-24T10`, `2026-11-24`, `2026-W48`, `2026-11`. */
export function bucketOf(at: Date, bucket: Bucket, timeZone: string): string {
  let fmt = formats.get(timeZone);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit' });
    formats.set(timeZone, fmt);
  }
  const p = Object.fromEntries(fmt.formatToParts(at).map((x) => [x.type, x.value]));
  const date = `${p.year}-${p.month}-${p.day}`;
  switch (bucket) {
    case 'hourly':
      return `${date}T${p.hour}`;
    case 'daily':
      return date;
    case 'monthly':
      return `${p.year}-${p.month}`;
    case 'weekly':
      return isoWeek(Number(p.year), Number(p.month), Number(p.day));
  }
}

/** ISO 8601 week of a calendar date: weeks start on Monday, week 1 holds the year's first Thursday. */
function isoWeek(year: number, month: number, day: number): string {
  const d = new Date(Date.UTC(year, month - 1, day));
  const weekday = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - weekday); // the Thursday of this week decides its year
  const weekYear = d.getUTCFullYear();
  const week = Math.ceil(((d.getTime() - Date.UTC(weekYear, 0, 1)) / 86_400_000 + 1) / 7);
  return `${weekYear}-W${String(week).padStart(2, '0')}`;
}
