/**
 * file:// store faults on a real filesystem: a small tmpfs that fills up (ENOSPC in the middle of an artifact, and
 * before the lock can even be written) and the same filesystem remounted read-only (EROFS). Each must fail the
 * backup cleanly — nothing partial under a key, no temp files left, earlier backups intact and still readable — and
 * the next run on a healthy disk must complete. A restore whose scratch volume cannot hold the staged dump is
 * refused before it changes anything. Needs root (mount); skipped with the reason otherwise.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/engine/backup.js';
import { runRestore } from '../../src/engine/restore.js';
import { verifyBackup } from '../../src/engine/verify.js';
import { listBackups } from '../../src/repository/catalog.js';
import { loadIdentities } from '../../src/config/keys.js';
import type { Config } from '../../src/config/schema.js';
import type { Identity } from '../../src/crypto/index.js';
import type { Manifest } from '../../src/repository/manifest.js';
import { openStore } from '../../src/store/open.js';
import { errorMessage } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/log.js';
import { startPlatform, type Platform } from '../support/platform.js';
import { FaultCounter, auditStore, completedProblems, nextSecond, redisKeyBounds, referenceOf, type Reference } from './support.js';

const execFileP = promisify(execFile);
const counter = new FaultCounter(import.meta.filename);

/** Can we mount a tmpfs here (root, and allowed by the container)? Probed once, before the tests are collected. */
async function probeMount(): Promise<string | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'gushen-dr-mount-probe-'));
  try {
    await execFileP('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
    await execFileP('umount', [dir]);
    return undefined;
  } catch (err) {
    return `cannot mount a tmpfs here (${errorMessage(err).split('\n')[0]}): run as root where mounting is permitted`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
const cannotMount = await probeMount();

describe.skipIf(cannotMount !== undefined)(`file:// store on a full or read-only disk${cannotMount ? ` (skipped: ${cannotMount})` : ''}`, () => {
  let p: Platform;
  let dir: string;
  let config: Config;
  let identities: Identity[];
  let ref: Reference;
  let first: Manifest;
  let mounted = false;
  const store = () => openStore(config.store);
  const mount = (...opts: string[]) => execFileP('mount', opts);
  const freeBytes = async () => {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  };
  const backup = async () => {
    await nextSecond();
    counter.backup();
    return runBackup({ config, store: store(), schedule: 'manual', log: silentLogger });
  };
  const expectFirstIntact = async () => {
    const results = await verifyBackup({ store: store(), manifest: first, config, log: silentLogger, deep: { identities } });
    for (const r of results) if (!r.ok) counter.mismatch(`${first.id} ${r.artifact}: ${r.error}`);
    expect(results.every((r) => r.ok)).toBe(true);
  };
  const recover = async () => {
    const m = await backup();
    expect(m.failures).toEqual([]);
    expect(m.status).toBe('Completed');
    const audit = await auditStore({ store: store(), config, ref, identities, deep: (e) => e.id === m.id });
    for (const pr of [...audit.problems, ...completedProblems(m, ref)]) counter.mismatch(pr);
    expect(audit.problems).toEqual([]);
    return m;
  };

  beforeAll(async () => {
    // ~4.5 MB stored for the database dump, a few hundred KB for the rest.
    p = await startPlatform({ rows: 60_000, redisKeys: 3000 });
    dir = await mkdtemp(join(tmpdir(), 'gushen-dr-small-disk-'));
    await mount('-t', 'tmpfs', '-o', 'size=32m,mode=0700', 'tmpfs', dir);
    mounted = true;
    // One source at a time, so which artifact meets the full disk does not depend on scheduling.
    config = p.config({ store: { url: `file://${dir}` }, backup: { lockLeaseSeconds: 120, concurrency: 1 } });
    identities = await loadIdentities(config);
    const bounds = await redisKeyBounds(p.redis.client());
    counter.backup();
    first = await runBackup({ config, store: store(), schedule: 'manual', log: silentLogger });
    expect(first.status).toBe('Completed');
    ref = referenceOf(first, bounds);
  });
  afterAll(async () => {
    if (mounted) await execFileP('umount', ['-l', dir]).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
    await p?.stop();
  });

  it('the disk fills up in the middle of the database dump: that artifact fails with ENOSPC, no partial object or temp file; the next run completes', async () => {
    // Leave ~1.5 MiB: enough for the lock, the small artifacts and the manifest, not for the ~4.5 MB dump.
    const filler = join(dir, 'filler');
    await writeFile(filler, Buffer.alloc(Math.max(0, (await freeBytes()) - 1.5 * 1024 * 1024)));
    let m: Manifest;
    try {
      m = await backup();
    } finally {
      await rm(filler);
    }
    counter.fault();
    expect(m.status).toBe('PartiallyFailed');
    expect(m.failures).toEqual([expect.objectContaining({ source: 'postgres', artifact: 'postgres/gushen.dump', error: expect.stringMatching(/ENOSPC|no space left/i) })]);
    expect(m.artifacts.map((a) => a.name).sort()).toEqual(['kube/resources.tar', 'postgres/globals.sql', 'redis/dump.rdb']);
    expect(await store().head(`backups/${m.id}/postgres/gushen.dump.zst.age`)).toBeUndefined();
    expect(await readdir(join(dir, '.tmp'))).toEqual([]);
    expect(await store().list('locks/')).toEqual([]);
    await expectFirstIntact();
    await recover();
  });

  it('the disk is full before the run starts: the backup fails at once naming the cause, and writes nothing', async () => {
    const before = (await store().list('')).map((o) => o.key);
    const filler = join(dir, 'filler');
    await writeFile(filler, Buffer.alloc(await freeBytes())).catch(() => undefined);
    let err: unknown;
    try {
      await backup();
    } catch (e) {
      err = e;
    } finally {
      await rm(filler);
    }
    counter.fault();
    expect(errorMessage(err)).toMatch(/ENOSPC|no space left/i);
    expect((await store().list('')).map((o) => o.key)).toEqual(before);
    expect(await readdir(join(dir, '.tmp'))).toEqual([]);
    await expectFirstIntact();
    await recover();
  });

  it('the store is read-only: the backup fails at once with EROFS and changes nothing; backups stay listable and verifiable; rw again, the next run completes', async () => {
    const before = (await store().list('')).map((o) => o.key);
    await mount('-o', 'remount,ro', dir);
    let err: unknown;
    try {
      try {
        await backup();
      } catch (e) {
        err = e;
      }
      counter.fault();
      expect(errorMessage(err)).toMatch(/EROFS|read-only file system/i);
      expect(errorMessage(err)).toContain(dir);
      expect((await store().list('')).map((o) => o.key)).toEqual(before);
      // reading needs no write access: list, verify --deep of the earlier backup
      expect((await listBackups(store())).some((e) => e.id === first.id && e.status === 'Completed')).toBe(true);
      await expectFirstIntact();
    } finally {
      await mount('-o', 'remount,rw', dir);
    }
    await recover();
  });

  it('restore --jobs 2 with a scratch volume too small for the dump: refused before any database is created', async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'gushen-dr-small-scratch-'));
    await mount('-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', scratch);
    try {
      counter.fault();
      const err = await runRestore({
        store: store(),
        manifest: first,
        identities,
        config,
        log: silentLogger,
        only: ['postgres'],
        scratchDir: scratch,
        postgres: { pgUrl: p.pg.url, database: 'restored_no_room', jobs: 2 },
      }).then(() => undefined, (e: unknown) => e);
      expect(errorMessage(err)).toMatch(
        new RegExp(`not enough space in ${scratch} to stage postgres/gushen\\.dump for pg_restore --jobs 2 \\(--jobs 1 streams and needs no room\\): it needs [\\d.]+ MiB \\(plus 64\\.0 MiB headroom\\) and [\\d.]+ MiB are free`),
      );
      expect((await p.pg.query('postgres', "select 1 from pg_database where datname = 'restored_no_room'")).rowCount).toBe(0);
      expect(await readdir(scratch)).toEqual([]);
    } finally {
      await execFileP('umount', ['-l', scratch]).catch(() => undefined);
      await rm(scratch, { recursive: true, force: true });
    }
  });
});

// The suite's counts are reported even when this file is skipped.
if (cannotMount) await counter.report();
else afterAll(() => counter.report());
