import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { backupSchedule, backupSchedules } from '../../src/config/schedules.js';
import { parseConfig } from '../../src/sources/registry.js';
import { UsageError } from '../../src/util/errors.js';
import { parseDuration } from '../../src/util/duration.js';

const R = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
const base = (extra = '') =>
  `store: { url: "file:///tmp/x" }\nencryption: { recipients: [${R}] }\nsources:\n  postgres: { url: "postgres://u@h:5432/", databases: [gushen] }\n  redis: { url: "redis://h" }\n${extra}`;
const parse = (extra: string) => parseConfig(base(extra), {}, 'cfg');

describe('named schedules in the config', () => {
  it('reads named schedules with cron, only and GFS retention beside the old shorthand', () => {
    const c = parse(
      [
        'retention: { nightly: 7 }',
        'schedules:',
        '  timeZone: Asia/Shanghai',
        '  nightly: "0 2 * * *"',
        '  drill: "0 4 1 1,4,7,10 *"',
        '  hourly: { cron: "0 * * * *", only: [postgres], retention: { keepHourly: 48, keepDaily: 7, keepWithin: 2d } }',
        '  weekly: { retention: { keepWeekly: 8, keepMonthly: 6 } }',
        '',
      ].join('\n'),
    );
    expect(backupSchedules(c)).toEqual([
      { name: 'manual', cron: undefined, only: undefined, retention: { keepLast: 10 } },
      { name: 'nightly', cron: '0 2 * * *', only: undefined, retention: { keepLast: 7 } },
      { name: 'monthly', cron: undefined, only: undefined, retention: { keepLast: 12 } },
      { name: 'hourly', cron: '0 * * * *', only: ['postgres'], retention: { keepHourly: 48, keepDaily: 7, keepWithin: '2d' } },
      { name: 'weekly', cron: undefined, only: undefined, retention: { keepWeekly: 8, keepMonthly: 6 } },
    ]);
    // The shorthand string stays as written (the k8s ConfigMap test reads it back).
    expect(c.schedules.nightly).toBe('0 2 * * *');
    expect(backupSchedule(c, 'hourly').only).toEqual(['postgres']);
  });

  it('a built-in schedule with its own retention takes that over the shorthand', () => {
    const c = parse('schedules:\n  monthly: { cron: "0 3 1 * *", retention: { keepMonthly: 24 } }\n');
    expect(backupSchedule(c, 'monthly').retention).toEqual({ keepMonthly: 24 });
  });

  it('backup --schedule accepts manual, nightly, monthly and configured names; anything else is a usage error naming the known ones', () => {
    const c = parse('schedules:\n  hourly: { cron: "0 * * * *", retention: { keepLast: 24 } }\n');
    for (const n of ['manual', 'nightly', 'monthly', 'hourly']) expect(backupSchedule(c, n).name).toBe(n);
    expect(() => backupSchedule(c, 'hourli')).toThrow(UsageError);
    expect(() => backupSchedule(c, 'hourli')).toThrow('--schedule hourli: no such schedule (known: manual, nightly, monthly, hourly;');
  });

  const BAD: Array<[string, string]> = [
    ['schedules:\n  Hourly: { cron: "0 * * * *", retention: { keepLast: 2 } }\n', 'cfg: schedules.Hourly: not a schedule name'],
    ['schedules:\n  hourly: "0 * * * *"\n', 'cfg: schedules.hourly: a new schedule needs its retention'],
    ['schedules:\n  hourly: { cron: "0 * * * *" }\n', 'cfg: schedules.hourly.retention: required'],
    ['schedules:\n  hourly: { cron: "0 * * * *", retention: {} }\n', 'cfg: schedules.hourly.retention: expected at least one of keepLast'],
    ['schedules:\n  hourly: { cron: "0 * * * *", retention: { keepYearly: 2 } }\n', 'cfg: schedules.hourly.retention: unknown key "keepYearly"'],
    ['schedules:\n  hourly: { cron: "0 * * * *", retention: { keepLast: 0 } }\n', 'cfg: schedules.hourly.retention.keepLast: Too small'],
    ['schedules:\n  hourly: { cron: "0 * * * *", retention: { keepWithin: 3mo } }\n', 'cfg: schedules.hourly.retention.keepWithin: expected a duration like 36h, 7d or 2w'],
    ['schedules:\n  hourly: { crons: "0 * * * *", retention: { keepLast: 2 } }\n', 'cfg: schedules.hourly: unknown key "crons"'],
    ['schedules:\n  hourly: { only: [mysql], retention: { keepLast: 2 } }\n', 'cfg: schedules.hourly.only.0: unknown source "mysql"'],
    ['schedules:\n  hourly: { only: [kube], retention: { keepLast: 2 } }\n', 'cfg: schedules.hourly.only.0: sources.kube is not configured'],
    ['schedules:\n  manual: { cron: "0 * * * *" }\n', 'cfg: schedules.manual.cron: manual backups are run by hand: no cron'],
  ];
  for (const [extra, message] of BAD) {
    it(`refuses ${JSON.stringify(extra.split('\n')[1].trim())}`, () => {
      let err: unknown;
      try {
        parse(extra);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toContain(message);
    });
  }

  it('the shipped example configs still validate', async () => {
    for (const f of ['examples/gushen.yaml', 'examples/local.yaml']) {
      const env = { S3_ENDPOINT: 'http://minio:9000', PGUSER: 'u', PGPASSWORD: 'p', PGHOST: 'h', REDIS_PASSWORD: 'r', DRILL_PGUSER: 'd', DRILL_PGPASSWORD: 'q' };
      const c = parseConfig(await readFile(f, 'utf8'), env, f);
      expect(backupSchedules(c).map((s) => s.name)).toEqual(expect.arrayContaining(['manual', 'nightly', 'monthly']));
    }
  });
});

describe('durations', () => {
  it('reads h, d, w and sums; refuses the rest', () => {
    expect(parseDuration('36h')).toBe(36 * 3_600_000);
    expect(parseDuration('7d')).toBe(7 * 86_400_000);
    expect(parseDuration('2w3d')).toBe(17 * 86_400_000);
    for (const bad of ['', '7', '3mo', '1y', '0d', '-1d', '1.5d', '7 d']) expect(parseDuration(bad), bad).toBeUndefined();
  });
});
