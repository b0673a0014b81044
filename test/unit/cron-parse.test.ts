import cron from 'node-cron';
import { describe, expect, it } from 'vitest';
import { CronError, checkTimeZone, parseCron } from '../../src/schedule/cron.js';
import { UsageError } from '../../src/util/errors.js';

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe('parseCron', () => {
  it('expands the production schedules', () => {
    const nightly = parseCron('0 2 * * *');
    expect(nightly).toMatchObject({ second: [0], minute: [0], hour: [2], dayOfMonth: range(1, 31), month: range(1, 12), dayOfWeek: range(0, 6) });
    expect(parseCron('0 3 1 * *')).toMatchObject({ minute: [0], hour: [3], dayOfMonth: [1], month: range(1, 12) });
    expect(parseCron('0 4 1 1,4,7,10 *')).toMatchObject({ minute: [0], hour: [4], dayOfMonth: [1], month: [1, 4, 7, 10] });
    expect(parseCron('  0   2 * * *  ').hour).toEqual([2]);
  });

  it('reads ranges, steps, lists, names and Sunday as 7', () => {
    expect(parseCron('*/15 * * * *').minute).toEqual([0, 15, 30, 45]);
    expect(parseCron('0 8-18/5 * * *').hour).toEqual([8, 13, 18]);
    expect(parseCron('0 9 * * mon-fri').dayOfWeek).toEqual([1, 2, 3, 4, 5]);
    expect(parseCron('0 9 * * SUN,sat').dayOfWeek).toEqual([0, 6]);
    expect(parseCron('0 9 * * 7').dayOfWeek).toEqual([0]);
    expect(parseCron('0 9 * jan,JUL *').month).toEqual([1, 7]);
    expect(parseCron('0 0 1-7 * *').restricted).toEqual({ dayOfMonth: true, dayOfWeek: false });
    expect(parseCron('0 0 * * */2').restricted).toEqual({ dayOfMonth: false, dayOfWeek: true });
  });

  it('accepts a seconds field only when asked', () => {
    expect(() => parseCron('*/20 * * * * *')).toThrow(/six fields/);
    expect(parseCron('*/20 * * * * *', { allowSeconds: true }).second).toEqual([0, 20, 40]);
  });

  it('agrees with node-cron on every field', () => {
    for (const expr of ['0 2 * * *', '0 3 1 * *', '0 4 1 1,4,7,10 *', '*/20 * * * * *', '5 */6 * * mon-fri', '0 0 10-20/3 * *', '30 1 * feb-apr,oct *', '0 12 * * 0,7']) {
      const mine = parseCron(expr, { allowSeconds: true });
      const theirs = cron.parse(expr);
      for (const f of ['second', 'minute', 'hour', 'dayOfMonth', 'month', 'dayOfWeek'] as const) {
        expect([...new Set(mine[f])].sort((a, b) => a - b), `${expr} ${f}`).toEqual([...new Set(theirs[f].map((v) => (f === 'dayOfWeek' && v === 7 ? 0 : v)))].sort((a, b) => Number(a) - Number(b)));
      }
    }
  });

  it.each([
    ['0 2 * *', /expected 5 fields/],
    ['0 2 * * * * *', /expected 5 fields/],
    ['60 2 * * *', /minute: 60 is outside 0-59/],
    ['0 24 * * *', /hour: 24 is outside 0-23/],
    ['0 2 0 * *', /dayOfMonth: 0 is outside 1-31/],
    ['0 2 * 13 *', /month: 13 is outside 1-12/],
    ['0 2 * * 8', /dayOfWeek: 8 is outside 0-7/],
    ['0 22-2 * * *', /runs backwards/],
    ['*/0 * * * *', /step "0"/],
    ['0 2 L * *', /L, W, # or \?/],
    ['0 2 15W * *', /L, W, # or \?/],
    ['0 2 * * 1#2', /L, W, # or \?/],
    ['0 2 ? * *', /L, W, # or \?/],
    ['@daily', /macros/],
    ['TZ=UTC 0 2 * * *', /TZ= prefix/],
    ['0 2 1 * 1', /both day-of-month and day-of-week/],
    ['0 2 1-7 * mon', /both day-of-month and day-of-week/],
    ['0 2 * * funday', /not a number or a name/],
    ['0 2 1,,2 * *', /empty list item/],
    ['5/15 * * * *', /node-cron does not accept it/],
  ])('rejects %s', (expr, problem) => {
    let err: unknown;
    try {
      parseCron(expr);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CronError);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(problem);
    expect((err as Error).message).toContain(expr);
  });
});

describe('checkTimeZone', () => {
  it('accepts IANA names and rejects others', () => {
    expect(checkTimeZone('Asia/Shanghai')).toBe('Asia/Shanghai');
    expect(checkTimeZone('UTC')).toBe('UTC');
    expect(() => checkTimeZone('Asia/Beijing')).toThrow(UsageError);
    expect(() => checkTimeZone('CST+8')).toThrow(/not an IANA time zone/);
  });
});
