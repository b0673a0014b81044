/**
 * Secrets never leak: a full backup, verify, restore and drill through the CLI (child processes, debug logs), plus
 * commands that fail on connection errors with passwords in their URLs — then every byte of the store, every line
 * of stdout/stderr, every file left in the children's temp directory (TMPDIR) and every error message is scanned
 * for the fixture's secret values (plain, and base64 at every alignment, as inside a Secret's data) and the
 * PostgreSQL and Redis passwords. Zero hits. Positive controls show the secrets really went through the backup.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_PASSWORD, REDIS_PASSWORD, startPlatform, type Platform } from '../support/platform.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { runCliProcess } from '../support/cli-process.js';
import { GUSHEN_FIXTURE_SECRET_VALUES } from '../support/kube-emulator/index.js';
import { tempDir } from '../support/tmp.js';
import { FaultCounter } from './support.js';

const counter = new FaultCounter(import.meta.filename);
const DRILL_REDIS_PASSWORD = 'drill-redis-Secret-0xC0FFEE';
const TARGET_REDIS_PASSWORD = 'target-redis-Secret-0xBADF00D';

/** A secret as it may appear: itself, and its base64 at each of the three byte alignments (inside a longer blob). */
function variants(secret: string): string[] {
  const out = [secret, encodeURIComponent(secret)];
  const bytes = Buffer.from(secret);
  for (let offset = 0; offset < 3; offset++) {
    const full = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64').replace(/=+$/, '');
    const v = full.slice(Math.ceil((offset * 8) / 6), Math.floor(((offset + bytes.length) * 8) / 6));
    if (v.length >= 12) out.push(v);
  }
  return [...new Set(out)];
}

describe('no secret in the store, the logs, the temp files or the error messages', () => {
  let p: Platform;
  let drillRedis: TestRedis;
  let targetRedis: TestRedis;
  let tmp: { path: string; cleanup: () => Promise<void> };
  let cfg: string;
  let badCfg: string;
  const outputs: Array<{ what: string; text: string }> = [];
  const needles = new Map<string, string>(); // variant → which secret
  const secrets = [...GUSHEN_FIXTURE_SECRET_VALUES, PG_PASSWORD, REDIS_PASSWORD, DRILL_REDIS_PASSWORD, TARGET_REDIS_PASSWORD];
  for (const s of secrets) for (const v of variants(s)) needles.set(v, s);

  const cli = async (expectCode: number | 'nonzero', ...args: string[]) => {
    const r = await runCliProcess(['--log-level', 'debug', ...args], { env: { TMPDIR: tmp.path } });
    outputs.push({ what: `gushen-dr ${args.join(' ')}`, text: `${r.stdout}\n${r.stderr}` });
    if (expectCode === 'nonzero') expect(r.code, r.stderr.slice(-3000)).not.toBe(0);
    else expect(r.code, r.stderr.slice(-3000)).toBe(expectCode);
    return r;
  };
  const hitsIn = (where: string, data: Buffer | string): string[] => {
    const text = typeof data === 'string' ? data : data.toString('latin1');
    const hits: string[] = [];
    for (const [v, secret] of needles) if (text.includes(v)) hits.push(`${where}: contains ${v === secret ? 'the secret' : `an encoding (${v})`} of ${secret.slice(0, 12)}…`);
    return hits;
  };
  const scanTree = async (root: string): Promise<{ files: number; hits: string[] }> => {
    const hits: string[] = [];
    let files = 0;
    for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
      const path = join(e.parentPath, e.name);
      hits.push(...hitsIn(`name ${path}`, path));
      if (!e.isFile()) continue;
      files++;
      hits.push(...hitsIn(path, await readFile(path)));
    }
    return { files, hits };
  };

  beforeAll(async () => {
    [p, drillRedis, targetRedis, tmp] = await Promise.all([
      startPlatform({ rows: 5000, redisKeys: 1500 }),
      startRedis({ password: DRILL_REDIS_PASSWORD, appendonly: false }),
      startRedis({ password: TARGET_REDIS_PASSWORD, appendonly: false }),
      tempDir('gushen-dr-secrets-tmp-'),
    ]);
    const drill = {
      readyTimeoutSeconds: 30,
      redis: { url: `redis://:${DRILL_REDIS_PASSWORD}@127.0.0.1:${drillRedis.port}` },
      postgres: { url: `postgres://postgres:${PG_PASSWORD}@127.0.0.1:${p.pg.port}/` },
      env: { DATABASE_URL: 'postgres://app@scratch/{{database}}', REDIS_URL: '{{redisUrl}}' },
    };
    cfg = await p.writeConfig('secrets.yaml', { drill });
    // The same, but Redis is unreachable at a URL carrying the password: the failure is recorded in the manifest.
    const base = p.config();
    badCfg = await p.writeConfig('secrets-bad.yaml', {
      drill,
      sources: { ...base.sources, redis: { ...base.sources.redis, url: `redis://:${REDIS_PASSWORD}@127.0.0.1:1`, method: 'file' } },
    });
  });
  afterAll(async () => {
    await Promise.all([p?.stop(), drillRedis?.stop(), targetRedis?.stop(), tmp?.cleanup()]);
    await counter.report();
  });

  it('backup, verify, show, restore, drill and failing commands: zero hits anywhere', async () => {
    await cli(0, '--config', cfg, 'backup', '--schedule', 'nightly');
    counter.backup();
    await cli(0, '--config', cfg, 'verify', 'latest', '--deep');
    await cli(0, '--config', cfg, '-o', 'json', 'show', 'latest');
    await cli(0, '--config', cfg, 'list');
    const restore = await cli(
      0,
      '--config', cfg, '-o', 'json', 'restore', 'latest',
      '--pg-url', `postgres://postgres:${PG_PASSWORD}@127.0.0.1:${p.pg.port}/`, '--database', 'restored', '--jobs', '2',
      '--redis-url', `redis://:${TARGET_REDIS_PASSWORD}@127.0.0.1:${targetRedis.port}`,
      '--to-namespace', 'restored-secrets', '--no-wait',
    );
    expect(JSON.parse(restore.stdout).failed).toBe(0);
    await cli(0, '--config', cfg, 'drill');
    // Failures with passwords in the URLs involved: connection refused, a refusal, a PartiallyFailed backup.
    await cli('nonzero', '--config', cfg, 'restore', 'latest', '--only', 'postgres', '--pg-url', `postgres://postgres:${PG_PASSWORD}@127.0.0.1:1/`, '--database', 'x');
    await cli('nonzero', '--config', cfg, 'restore', 'latest', '--only', 'redis', '--redis-url', `redis://:${REDIS_PASSWORD}@127.0.0.1:1`);
    await cli(2, '--config', cfg, 'restore', 'latest', '--only', 'redis', '--redis-url', `redis://:${TARGET_REDIS_PASSWORD}@127.0.0.1:${targetRedis.port}`);
    await cli(2, '--config', cfg, 'restore', 'latest', '--only', 'postgres', '--pg-url', `postgres://postgres:${PG_PASSWORD}@127.0.0.1:${p.pg.port}/`, '--database', 'restored');
    await new Promise((r) => setTimeout(r, 1000));
    await cli(1, '--config', badCfg, 'backup');
    counter.backup();
    counter.fault(5);

    // Positive controls: the secrets really went through backup and restore (so a clean scan means something).
    const restoredSecret = p.kube.get('v1', 'Secret', 'restored-secrets', 'ai-qtrd-secrets');
    expect(Buffer.from(restoredSecret.data.NEXTAUTH_SECRET, 'base64').toString()).toBe(GUSHEN_FIXTURE_SECRET_VALUES[2]);
    expect(hitsIn('control', JSON.stringify(restoredSecret)).length).toBeGreaterThan(0);
    expect(outputs.some((o) => o.text.includes('"msg":"backup finished"'))).toBe(true);

    const storeDir = p.config().store.url.slice('file://'.length);
    const store = await scanTree(storeDir);
    const temp = await scanTree(tmp.path);
    const logs = outputs.flatMap((o) => hitsIn(`output of ${o.what.replace(/:[^@/]*@/g, ':<pw>@')}`, o.text));
    const lines = outputs.reduce((s, o) => s + o.text.split('\n').length, 0);
    console.log(
      `[fault suite] secrets.test.ts: scanned ${store.files} store objects, ${temp.files} files left in TMPDIR, ${lines} lines of output from ${outputs.length} commands for ${needles.size} encodings of ${secrets.length} secrets: ${store.hits.length + temp.hits.length + logs.length} hits`,
    );
    // What the children left in TMPDIR: only tsx's compile cache, no staged plaintext or scratch data of ours.
    const left = (await readdir(tmp.path)).sort();
    console.log(`[fault suite] secrets.test.ts: left in TMPDIR: ${left.join(', ') || 'nothing'}`);
    expect(left.filter((n) => n.startsWith('gushen-dr'))).toEqual([]);
    expect(store.files).toBeGreaterThan(5);
    expect([...store.hits, ...temp.hits, ...logs]).toEqual([]);
  }, 300_000);
});
