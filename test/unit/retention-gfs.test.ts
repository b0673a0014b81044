import { describe, expect, it } from 'vitest';
import type { RetentionPolicy } from '../../src/config/schema.js';
import type { CatalogEntry } from '../../src/repository/catalog.js';
import { backupId } from '../../src/repository/layout.js';
import { planPrune } from '../../src/repository/prune.js';
import { syntheticManifest } from '../support/synthetic-backups.js';

/**
 * Synthetic histories: one backup an hour from 2026-01-01T00:00Z to 2026-03-01T23:00Z (60 days, 1440 backups), all
 * Completed; now is half an hour after the last. 2026-03-01 is a Sunday, the last day of ISO week 2026-W09.
 */
const NOW = new Date('2026-03-02T00:30:00Z');
const START = Date.parse('2026-01-01T00:00:00Z');

function history(schedule: string, sources: string[], everyHours = 1, atHour = 0): CatalogEntry[] {
  const out: CatalogEntry[] = [];
  for (let t = START + atHour * 3_600_000; t < Date.parse('2026-03-02T00:00:00Z'); t += everyHours * 3_600_000) {
    const id = backupId(new Date(t), schedule);
    out.push({ id, schedule, status: 'Completed', startedAt: new Date(t), storedBytes: 1, objects: 3, artifacts: sources.length, manifest: syntheticManifest(id, sources) });
  }
  return out;
}

const config = (schedules: Record<string, unknown>, timeZone?: string) =>
  ({
    retention: { nightly: 14, monthly: 12, manual: 10, incompleteAfterHours: 24 },
    sources: { postgres: {}, redis: {} },
    schedules: { listen: ':9464', ...(timeZone ? { timeZone } : {}), ...schedules },
  }) as never;

const kept = (entries: CatalogEntry[], cfg: never) =>
  planPrune(entries, cfg, NOW)
    .filter((d) => d.action === 'keep')
    .map((d) => d.id)
    .sort();

const hourly = (retention: RetentionPolicy) => ({ hourly: { cron: '0 * * * *', retention } });

const CASES: Array<{ name: string; retention: RetentionPolicy; timeZone?: string; keep: string[] }> = [
  {
    name: 'keepLast 5',
    retention: { keepLast: 5 },
    keep: ['20260301T190000Z-hourly', '20260301T200000Z-hourly', '20260301T210000Z-hourly', '20260301T220000Z-hourly', '20260301T230000Z-hourly'],
  },
  {
    name: 'keepHourly 3 (one backup an hour: the last three)',
    retention: { keepHourly: 3 },
    keep: ['20260301T210000Z-hourly', '20260301T220000Z-hourly', '20260301T230000Z-hourly'],
  },
  {
    name: 'keepDaily 7: the newest of each of the last 7 days',
    retention: { keepDaily: 7 },
    keep: [
      '20260223T230000Z-hourly',
      '20260224T230000Z-hourly',
      '20260225T230000Z-hourly',
      '20260226T230000Z-hourly',
      '20260227T230000Z-hourly',
      '20260228T230000Z-hourly',
      '20260301T230000Z-hourly',
    ],
  },
  {
    name: 'keepWeekly 4: the newest of each ISO week (Sundays)',
    retention: { keepWeekly: 4 },
    keep: ['20260208T230000Z-hourly', '20260215T230000Z-hourly', '20260222T230000Z-hourly', '20260301T230000Z-hourly'],
  },
  {
    name: 'keepMonthly 3: the newest of March (one day), February and January',
    retention: { keepMonthly: 3 },
    keep: ['20260131T230000Z-hourly', '20260228T230000Z-hourly', '20260301T230000Z-hourly'],
  },
  {
    name: 'keepMonthly 12 keeps only the months there are',
    retention: { keepMonthly: 12 },
    keep: ['20260131T230000Z-hourly', '20260228T230000Z-hourly', '20260301T230000Z-hourly'],
  },
  {
    name: 'keepWithin 6h: everything since 2026-03-01T18:30Z',
    retention: { keepWithin: '6h' },
    keep: ['20260301T190000Z-hourly', '20260301T200000Z-hourly', '20260301T210000Z-hourly', '20260301T220000Z-hourly', '20260301T230000Z-hourly'],
  },
  {
    name: 'keepWithin 3h: since 2026-03-01T21:30Z',
    retention: { keepWithin: '3h' },
    keep: ['20260301T220000Z-hourly', '20260301T230000Z-hourly'],
  },
  {
    name: 'GFS: keepLast 2, keepDaily 3, keepWeekly 2, keepMonthly 2 (rules overlap)',
    retention: { keepLast: 2, keepDaily: 3, keepWeekly: 2, keepMonthly: 2 },
    keep: ['20260222T230000Z-hourly', '20260227T230000Z-hourly', '20260228T230000Z-hourly', '20260301T220000Z-hourly', '20260301T230000Z-hourly'],
  },
  {
    name: 'keepDaily 3 in Asia/Shanghai: local days end at 16:00Z',
    retention: { keepDaily: 3 },
    timeZone: 'Asia/Shanghai',
    keep: ['20260228T150000Z-hourly', '20260301T150000Z-hourly', '20260301T230000Z-hourly'],
  },
  {
    name: 'keepWeekly 2 in Asia/Shanghai: the local week ends Sunday 24:00 local, 16:00Z',
    retention: { keepWeekly: 2 },
    timeZone: 'Asia/Shanghai',
    keep: ['20260301T150000Z-hourly', '20260301T230000Z-hourly'],
  },
];

describe('GFS retention on 60 days of hourly backups (table)', () => {
  const entries = history('hourly', ['postgres', 'redis']);
  it('has the history it says', () => {
    expect(entries).toHaveLength(1440);
    expect(entries.at(-1)!.id).toBe('20260301T230000Z-hourly');
  });
  for (const c of CASES) {
    it(c.name, () => {
      expect(kept(entries, config(hourly(c.retention), c.timeZone))).toEqual([...c.keep].sort());
    });
  }
});

describe('retention per schedule, beside each other', () => {
  it('an hourly PostgreSQL-only schedule does not push the nightly full backups out, and each keeps by its own rules', () => {
    const entries = [...history('hourly', ['postgres']), ...history('nightly', ['postgres', 'redis'], 24, 2)].sort((a, b) => (a.id < b.id ? -1 : 1));
    const cfg = config({
      hourly: { cron: '0 * * * *', only: ['postgres'], retention: { keepHourly: 3 } },
      nightly: { cron: '0 2 * * *', retention: { keepDaily: 2, keepMonthly: 3 } },
    });
    expect(kept(entries, cfg)).toEqual(
      [
        '20260131T020000Z-nightly',
        '20260228T020000Z-nightly',
        '20260301T020000Z-nightly',
        '20260301T210000Z-hourly',
        '20260301T220000Z-hourly',
        '20260301T230000Z-hourly',
      ].sort(),
    );
  });

  it('keepWithin 1w on nightly backups at 02:00Z: the seven since 2026-02-23T00:30Z', () => {
    const entries = history('nightly', ['postgres', 'redis'], 24, 2);
    expect(kept(entries, config({ nightly: { cron: '0 2 * * *', retention: { keepWithin: '1w' } } }))).toEqual([
      '20260223T020000Z-nightly',
      '20260224T020000Z-nightly',
      '20260225T020000Z-nightly',
      '20260226T020000Z-nightly',
      '20260227T020000Z-nightly',
      '20260228T020000Z-nightly',
      '20260301T020000Z-nightly',
    ]);
  });

  it('the retention.nightly shorthand is keepLast for a nightly schedule without its own retention', () => {
    const entries = history('nightly', ['postgres', 'redis'], 24, 2);
    const cfg = { ...(config({ nightly: '0 2 * * *' }) as object), retention: { nightly: 3, monthly: 12, manual: 10, incompleteAfterHours: 24 } } as never;
    expect(kept(entries, cfg)).toEqual(['20260227T020000Z-nightly', '20260228T020000Z-nightly', '20260301T020000Z-nightly']);
  });

  it('a nightly retention that would keep no full backup still keeps the newest copy of redis', () => {
    // nightly full backups stop on 2026-02-10; hourly PostgreSQL-only ones go on.
    const nightly = history('nightly', ['postgres', 'redis'], 24, 2).filter((e) => e.id < '20260211');
    const entries = [...history('hourly', ['postgres']), ...nightly].sort((a, b) => (a.id < b.id ? -1 : 1));
    const cfg = config({
      hourly: { cron: '0 * * * *', only: ['postgres'], retention: { keepLast: 2 } },
      nightly: { cron: '0 2 * * *', retention: { keepWithin: '7d' } },
    });
    const plan = planPrune(entries, cfg, NOW);
    expect(
      plan
        .filter((d) => d.action === 'keep')
        .map((d) => d.id)
        .sort(),
    ).toEqual(['20260210T020000Z-nightly', '20260301T220000Z-hourly', '20260301T230000Z-hourly']);
    expect(plan.find((d) => d.id === '20260210T020000Z-nightly')!.reason).toMatch(/newest Completed copy of redis/);
  });
});
