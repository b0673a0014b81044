import { Gauge, Registry } from 'prom-client';
import type { CheckResult } from '../../sources/source.js';
import { DRILLS_PREFIX, drillReportKeys } from '../../repository/layout.js';
import type { ObjectStore } from '../../store/types.js';
import { readObjectText, writeObjectText } from '../../store/text.js';

/** `select`, `scratch`, one per source's restore (its name), a source's own (`rollout`, `health`), `data`, `cleanup`. */
export type PhaseName = string;

export interface PhaseResult {
  name: PhaseName;
  status: 'ok' | 'failed' | 'skipped';
  seconds: number;
  detail?: string;
}

export type { CheckResult } from '../../sources/source.js';

export interface DrillReport {
  id: string;
  backup: string | null;
  mode: 'kubernetes' | 'local';
  status: 'Passed' | 'Failed';
  startedAt: string;
  finishedAt: string;
  /** The recovery point the drill proved: the backup's age when the drill started, or, when a part recovered closer to
   * now (PostgreSQL point-in-time recovery), the gap between the newest recovered commit and the drill's start. */
  rpoSeconds: number | null;
  /** What rpoSeconds measures: 'age of the backup', or the part that recovered closer to now. Absent in older reports. */
  rpoBasis?: string;
  /** From the drill's start until every check passed; null when a check failed. */
  rtoSeconds: number | null;
  phases: PhaseResult[];
  checks: CheckResult[];
  transforms: { dropped: Array<{ item: string; by: string }>; excluded: Array<{ item: string; reason: string }> };
  /** The scratch namespace and databases, and per source whether its server was started for the drill or configured. */
  scratch: { namespace?: string; databases: string[]; servers: Record<string, 'throwaway' | 'configured'> };
  cleanup: { done: boolean; kept: boolean; detail: string[] };
  failure?: { phase: PhaseName; error: string };
}

export function drillIdAt(at: Date): string {
  return `${at.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '')}-drill`;
}

export function reportMarkdown(r: DrillReport): string {
  const lines = [
    `# Recovery drill ${r.id}: ${r.status === 'Passed' ? 'PASSED' : 'FAILED'}`,
    '',
    `| | |`,
    `| --- | --- |`,
    `| backup | ${r.backup ?? '—'} |`,
    `| mode | ${r.mode} |`,
    `| started | ${r.startedAt} |`,
    `| finished | ${r.finishedAt} |`,
    `| RPO (${r.rpoBasis ?? 'age of the backup'}) | ${fmtSeconds(r.rpoSeconds)} |`,
    `| RTO (until every check passed) | ${fmtSeconds(r.rtoSeconds)} |`,
    `| scratch namespace | ${r.scratch.namespace ?? '—'} |`,
    `| scratch databases | ${r.scratch.databases.join(', ') || '—'} |`,
    `| scratch servers | ${Object.entries(r.scratch.servers).map(([s, k]) => `${s} ${k}`).join(', ') || '—'} |`,
    '',
  ];
  if (r.failure) lines.push(`**Failed in phase \`${r.failure.phase}\`:** ${r.failure.error}`, '');
  lines.push('## Phases', '', '| phase | status | seconds | detail |', '| --- | --- | --- | --- |');
  for (const p of r.phases) lines.push(`| ${p.name} | ${p.status} | ${p.seconds.toFixed(1)} | ${escape(p.detail ?? '')} |`);
  lines.push('', '## Checks', '', '| kind | check | result | expected | actual | detail |', '| --- | --- | --- | --- | --- | --- |');
  for (const c of r.checks) lines.push(`| ${c.kind} | ${escape(c.name)} | ${c.ok ? 'ok' : 'FAILED'} | ${c.expected ?? ''} | ${c.actual ?? ''} | ${escape(c.detail ?? '')} |`);
  if (r.transforms.dropped.length + r.transforms.excluded.length > 0) {
    lines.push('', '## Left out of the drill', '');
    for (const d of r.transforms.dropped) lines.push(`- ${d.item}: dropped by ${d.by}`);
    for (const e of r.transforms.excluded) lines.push(`- ${e.item}: ${e.reason}`);
  }
  lines.push('', '## Clean-up', '', r.cleanup.kept ? '- kept (--keep or --keep-on-failure)' : r.cleanup.done ? '- done' : '- INCOMPLETE', ...r.cleanup.detail.map((d) => `- ${d}`), '');
  return lines.join('\n');
}

function escape(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function fmtSeconds(s: number | null): string {
  if (s === null) return '—';
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export async function storeReport(store: ObjectStore, r: DrillReport): Promise<void> {
  const keys = drillReportKeys(r.id);
  await writeObjectText(store, keys.markdown, reportMarkdown(r));
  await writeObjectText(store, keys.json, `${JSON.stringify(r, null, 2)}\n`);
}

export async function listReports(store: ObjectStore): Promise<DrillReport[]> {
  const out: DrillReport[] = [];
  for (const o of await store.list(DRILLS_PREFIX)) {
    if (!o.key.endsWith('/report.json')) continue;
    try {
      out.push(JSON.parse(await readObjectText(store, o.key)) as DrillReport);
    } catch {
      // an unreadable report is skipped; the Markdown beside it still tells the story
    }
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : 1));
}

export function drillMetrics(r: DrillReport, registry = new Registry()): Registry {
  const g = (name: string, help: string) => new Gauge({ name, help, registers: [registry] });
  const status = g('gushen_dr_drill_status', 'Last drill: 1 passed, 0 failed');
  status.set(r.status === 'Passed' ? 1 : 0);
  if (r.status === 'Passed') g('gushen_dr_drill_last_success_timestamp_seconds', 'Finish time of the last passed drill').set(Date.parse(r.finishedAt) / 1000);
  if (r.rtoSeconds !== null) g('gushen_dr_drill_rto_seconds', 'Recovery time measured by the last drill').set(r.rtoSeconds);
  if (r.rpoSeconds !== null) g('gushen_dr_drill_rpo_seconds', 'Recovery point the last drill proved: the age of the backup it restored, or with PostgreSQL point-in-time recovery the gap between the newest recovered commit and the drill start').set(r.rpoSeconds);
  return registry;
}
