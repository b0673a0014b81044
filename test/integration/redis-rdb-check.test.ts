import { execFile } from 'node:child_process';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateRdbFile, type RdbSummary } from '../../src/sources/redis/rdb.js';
import { fillRedis } from '../support/redis-dataset.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { tempDir } from '../support/tmp.js';
import { waitFor } from '../support/ports.js';

const execFileP = promisify(execFile);

interface CheckResult {
  ok: boolean;
  keys?: number;
  expires?: number;
  output: string;
}

/** Redis' own checker. */
async function redisCheckRdb(path: string): Promise<CheckResult> {
  try {
    const { stdout } = await execFileP('redis-check-rdb', [path], { maxBuffer: 16 << 20 });
    return {
      ok: /RDB looks OK/.test(stdout),
      keys: Number(/\[info\] (\d+) keys read/.exec(stdout)?.[1]),
      expires: Number(/\[info\] (\d+) expires/.exec(stdout)?.[1]),
      output: stdout,
    };
  } catch (err) {
    const e = err as { stdout?: string };
    return { ok: false, output: e.stdout ?? String(err) };
  }
}

async function ours(path: string): Promise<{ ok: boolean; summary?: RdbSummary; error?: string }> {
  try {
    return { ok: true, summary: await validateRdbFile(path) };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

async function save(r: TestRedis): Promise<string> {
  const c = r.client();
  const before = Number(await c.lastsave());
  await waitFor('a second boundary', async () => (Number((await c.time())[0]) > before ? true : undefined));
  await c.bgsave();
  await waitFor('BGSAVE', async () => (Number(await c.lastsave()) > before ? true : undefined));
  return join(r.dir, 'dump.rdb');
}

describe('RDB validator agrees with redis-check-rdb', () => {
  let plain: TestRedis;
  let noChecksum: TestRedis;
  let work: { path: string; cleanup: () => Promise<void> };
  let good: Buffer;
  let goodPath: string;

  beforeAll(async () => {
    [plain, noChecksum, work] = await Promise.all([startRedis(), startRedis({ extraArgs: ['--rdbchecksum', 'no', '--rdbcompression', 'no'] }), tempDir()]);
    await fillRedis(plain.client(), { keys: 4000 });
    await fillRedis(noChecksum.client(), { keys: 1500, large: false });
    goodPath = join(work.path, 'good.rdb');
    await copyFile(await save(plain), goodPath);
    good = await readFile(goodPath);
  });

  afterAll(async () => {
    await Promise.all([plain?.stop(), noChecksum?.stop(), work?.cleanup()]);
  });

  it('accepts real dump files, with the same key and expire counts', async () => {
    const theirs = await redisCheckRdb(goodPath);
    const mine = await ours(goodPath);
    expect(theirs.ok).toBe(true);
    expect(mine.ok).toBe(true);
    const s = mine.summary!;
    expect(s.checksum).toBe('ok');
    expect(s.databases.reduce((n, d) => n + d.keys, 0)).toBe(theirs.keys);
    expect(s.databases.reduce((n, d) => n + d.expires, 0)).toBe(theirs.expires);

    const unchecked = join(work.path, 'unchecked.rdb');
    await copyFile(await save(noChecksum), unchecked);
    const t2 = await redisCheckRdb(unchecked);
    const m2 = await ours(unchecked);
    expect(t2.ok).toBe(true);
    expect(m2.ok).toBe(true);
    expect(m2.summary!.checksum).toBe('disabled');
    expect(m2.summary!.databases.reduce((n, d) => n + d.keys, 0)).toBe(t2.keys);
  });

  it('rejects truncated, corrupted and foreign files, as redis-check-rdb does', async () => {
    const cases: Array<{ name: string; data: Buffer }> = [];
    for (const cut of [5, 9, 100, Math.floor(good.length / 3), Math.floor(good.length / 2), good.length - 9, good.length - 1]) {
      cases.push({ name: `truncated at ${cut}`, data: good.subarray(0, cut) });
    }
    for (const at of [200, Math.floor(good.length / 4), Math.floor(good.length / 2) + 17, good.length - 12, good.length - 3]) {
      const d = Buffer.from(good);
      d[at] ^= 0x5a;
      cases.push({ name: `byte ${at} flipped`, data: d });
    }
    const magic = Buffer.from(good);
    magic.write('RADIS', 0, 'latin1');
    cases.push({ name: 'bad magic', data: magic });
    const version = Buffer.from(good);
    version.write('0099', 5, 'latin1');
    cases.push({ name: 'future version', data: version });
    cases.push({ name: 'not an RDB at all', data: Buffer.from('{"this":"is json"}\n'.repeat(100)) });

    for (const c of cases) {
      const p = join(work.path, 'bad.rdb');
      await writeFile(p, c.data);
      const theirs = await redisCheckRdb(p);
      const mine = await ours(p);
      expect({ case: c.name, redisCheckRdb: theirs.ok }).toEqual({ case: c.name, redisCheckRdb: false });
      expect({ case: c.name, ours: mine.ok }).toEqual({ case: c.name, ours: false });
      expect(mine.error).toMatch(/truncated|CRC64 mismatch|bad magic|unsupported RDB version|not an RDB file|invalid|unknown/);
    }
  });
});
