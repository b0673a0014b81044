import cron from 'node-cron';
import { describe, expect, it } from 'vitest';
import { nextMatches, parseCron, wallClock } from '../../src/schedule/cron.js';

const iso = (ds: Date[]) => ds.map((d) => d.toISOString());

describe('next run times of the production schedules (Asia/Shanghai, UTC+8, no DST)', () => {
  const after = new Date('2026-01-10T12:00:00Z');

  it('nightly at 02:00 is 18:00 UTC the day before', () => {
    expect(iso(nextMatches(parseCron('0 2 * * *'), 'Asia/Shanghai', after, 3))).toEqual([
      '2026-01-10T18:00:00.000Z',
      '2026-01-11T18:00:00.000Z',
      '2026-01-12T18:00:00.000Z',
    ]);
  });

  it('monthly at 03:00 on the 1st', () => {
    expect(iso(nextMatches(parseCron('0 3 1 * *'), 'Asia/Shanghai', after, 3))).toEqual([
      '2026-01-31T19:00:00.000Z',
      '2026-02-28T19:00:00.000Z',
      '2026-03-31T19:00:00.000Z',
    ]);
  });

  it('the drill at 04:00 on the 1st of January, April, July and October', () => {
    const runs = nextMatches(parseCron('0 4 1 1,4,7,10 *'), 'Asia/Shanghai', after, 4);
    expect(iso(runs)).toEqual(['2026-03-31T20:00:00.000Z', '2026-06-30T20:00:00.000Z', '2026-09-30T20:00:00.000Z', '2026-12-31T20:00:00.000Z']);
    for (const r of runs) expect(wallClock(r, 'Asia/Shanghai')).toMatchObject({ day: 1, hour: 4, minute: 0 });
  });

  it('a time zone with daylight saving: the wall-clock hour holds across the change', () => {
    const runs = nextMatches(parseCron('0 2 * * *'), 'Europe/Berlin', new Date('2026-03-27T12:00:00Z'), 4);
    // CET (UTC+1) until 29 March 02:00, when 02:00 does not exist; CEST (UTC+2) after.
    expect(iso(runs)).toEqual(['2026-03-28T01:00:00.000Z', '2026-03-30T00:00:00.000Z', '2026-03-31T00:00:00.000Z', '2026-04-01T00:00:00.000Z']);
  });

  it('matches what node-cron will schedule, from now', () => {
    for (const [expr, tz] of [
      ['0 2 * * *', 'Asia/Shanghai'],
      ['0 3 1 * *', 'Asia/Shanghai'],
      ['0 4 1 1,4,7,10 *', 'Asia/Shanghai'],
      ['15 */6 * * mon-fri', 'UTC'],
    ] as const) {
      const task = cron.createTask(expr, () => undefined, { timezone: tz });
      const now = new Date();
      const theirs = task.getNextRuns(4);
      const mine = nextMatches(parseCron(expr), tz, now, 4);
      expect(iso(mine), `${expr} in ${tz}`).toEqual(iso(theirs));
      task.destroy();
    }
  });
});
