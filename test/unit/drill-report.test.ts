import { describe, expect, it } from 'vitest';
import { drillMetrics, reportMarkdown, type DrillReport } from '../../src/engine/drill/report.js';

const base: DrillReport = {
  id: '20261205T070000Z-drill',
  backup: '20261205T020000Z-nightly',
  mode: 'local',
  status: 'Passed',
  startedAt: '2026-12-05T07:00:00.000Z',
  finishedAt: '2026-12-05T07:01:00.000Z',
  rpoSeconds: 18000,
  rtoSeconds: 60,
  phases: [],
  checks: [],
  transforms: { dropped: [], excluded: [] },
  scratch: { databases: [], servers: {} },
  cleanup: { done: true, kept: false, detail: [] },
};

describe('drill report: the RPO row says what it measured', () => {
  it.each([
    ['a report of an older version (no basis)', undefined, '| RPO (age of the backup) | 5.0 h |'],
    ['the backup age', 'age of the backup', '| RPO (age of the backup) | 5.0 h |'],
    // Before: a PITR drill's few seconds were labelled "age of the backup".
    ['point-in-time recovery', 'postgres: newest recovered commit', '| RPO (postgres: newest recovered commit) | 3.0 s |'],
  ])('%s', (_name, rpoBasis, row) => {
    const rpoSeconds = rpoBasis?.startsWith('postgres') ? 3 : 18000;
    expect(reportMarkdown({ ...base, rpoSeconds, rpoBasis }).split('\n')).toContain(row);
  });

  it('the metric help names both meanings', async () => {
    const text = await drillMetrics({ ...base, rpoBasis: 'age of the backup' }).metrics();
    expect(text).toMatch(/# HELP gushen_dr_drill_rpo_seconds .*age of the backup.*point-in-time recovery/);
  });
});
