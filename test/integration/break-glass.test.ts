import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runBackup } from '../../src/engine/backup.js';
import { openStore } from '../../src/store/open.js';
import { silentLogger } from '../../src/util/log.js';
import type { Manifest } from '../../src/repository/manifest.js';
import { generateSigningKeyPair } from '../../src/crypto/ed25519.js';
import { artifactKey, manifestKey } from '../../src/repository/layout.js';
import type { RedisFacts } from '../../src/sources/redis/facts.js';
import { PG_PASSWORD, startPlatform, type Platform } from '../support/platform.js';
import { startRedis } from '../support/redis.js';
import { hasCommand, runbookScript } from '../support/commands.js';

function runScript(file: string, env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn('bash', [file], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c) => (out += c));
    p.stderr.on('data', (c) => (err += c));
    p.on('exit', (code) => resolve({ code, out, err }));
  });
}

const tools = ['age', 'zstd', 'jq', 'sha256sum', 'tar', 'psql', 'pg_restore', 'kubectl', 'redis-server'];
const missing = tools.filter((t) => !hasCommand(t));
/** With openssl (Debian has it), the backups are signed and the script checks the signature (SIGN_PUB). */
const signs = hasCommand('openssl');

describe.skipIf(missing.length > 0)(`break-glass restore with standard tools only${missing.length ? ` (skipped: ${missing.join(', ')} not installed)` : ''}`, () => {
  let p: Platform;
  let manifest: Manifest;
  let signing: Record<string, string> = {};
  let signEnv: Record<string, string> = {};
  beforeAll(async () => {
    p = await startPlatform({ rows: 5000, redisKeys: 1500, s3: hasCommand('aws') });
    if (signs) {
      const keys = generateSigningKeyPair();
      signing = { keyFile: join(p.dir, 'signing.key'), publicKeysFile: join(p.dir, 'signing.pub') };
      await writeFile(signing.keyFile, keys.privatePem, { mode: 0o600 });
      await writeFile(signing.publicKeysFile, keys.publicPem);
      signEnv = { SIGN_PUB: signing.publicKeysFile };
    }
    const config = p.config(signs ? { signing } : {});
    manifest = await runBackup({ config, store: openStore(config.store), schedule: 'nightly', log: silentLogger });
    expect(manifest.status).toBe('Completed');
    // Format version 2: the dump went from pg_dump straight into the zstd CLI, so it has no plaintext SHA-256.
    expect(manifest.formatVersion).toBe(2);
    expect(manifest.artifacts.find((a) => a.kind === 'pg_dump-custom')?.sha256).toBeUndefined();
  });
  afterAll(async () => p?.stop());

  it('the runbook script restores PostgreSQL, Redis and the namespace from a file store, importing none of our code', async () => {
    const script = join(p.dir, 'break-glass.sh');
    await writeFile(script, await runbookScript('break-glass'));
    expect(await readFile(script, 'utf8')).not.toMatch(/^[^#]*\b(gushen-dr|npx|node|tsx)\s/m);
    const redisDir = join(p.dir, 'redis-restored');
    await mkdir(redisDir);
    const r = await runScript(script, {
      STORE: p.config().store.url.slice('file://'.length),
      KEY: p.identityFile,
      PG_URL: `postgres://postgres:${PG_PASSWORD}@127.0.0.1:${p.pg.port}`,
      PG_DB: 'gushen_breakglass',
      REDIS_DIR: redisDir,
      NAMESPACE: 'breakglass',
      KUBECONFIG: p.kubeconfig,
      ...signEnv,
    });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain(`backup ${manifest.id} (manifest signature: ${signs ? 'verified' : 'not checked'}`);
    expect(r.out).toContain('postgres: gushen_breakglass restored, row counts match');

    // Redis really loads the prepared directory with appendonly yes: every key of the backup (minus expired).
    const facts = manifest.artifacts.find((a) => a.kind === 'redis-rdb')!.facts as RedisFacts;
    const redis = await startRedis({ dir: redisDir, appendonly: true });
    try {
      const c = redis.client();
      for (const d of facts.databases) {
        await c.select(d.db);
        expect(await c.dbsize(), `db${d.db}`).toBeGreaterThanOrEqual(d.keys - d.expires);
        expect(await c.dbsize(), `db${d.db}`).toBeLessThanOrEqual(d.keys);
      }
    } finally {
      await redis.stop();
    }

    const restored = p.kube.objects().filter((o) => o.metadata?.namespace === 'breakglass');
    for (const [kind, name] of [['Deployment', 'ai-qtrd-web'], ['StatefulSet', 'redis'], ['Secret', 'ai-qtrd-secrets'], ['ConfigMap', 'ai-qtrd-config'], ['IngressRoute', 'ai-qtrd'], ['Service', 'redis-headless']]) {
      expect(restored.some((o) => o.kind === kind && o.metadata.name === name), `${kind}/${name}`).toBe(true);
    }
    expect(restored.find((o) => o.kind === 'Service' && o.metadata.name === 'redis-headless')?.spec.clusterIP).toBe('None');
  });

  it.skipIf(!hasCommand('aws'))('the same script reads an S3 store with the aws CLI', async () => {
    const s3 = p.s3!;
    const config = p.config(signs ? { signing } : {}, 's3');
    const m = await runBackup({ config, store: openStore(config.store), schedule: 'nightly', log: silentLogger });
    expect(m.status).toBe('Completed');
    const redisDir = join(p.dir, 'redis-s3');
    await mkdir(redisDir);
    const r = await runScript(join(p.dir, 'break-glass.sh'), {
      ...s3.env,
      STORE: `s3://${s3.bucket}/gushen`,
      S3_ENDPOINT: s3.endpoint,
      KEY: p.identityFile,
      PG_URL: `postgres://postgres:${PG_PASSWORD}@127.0.0.1:${p.pg.port}`,
      PG_DB: 'gushen_breakglass_s3',
      REDIS_DIR: redisDir,
      NAMESPACE: 'breakglass-s3',
      KUBECONFIG: p.kubeconfig,
      ...signEnv,
    });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain(`backup ${m.id}`);
    expect(r.out).toContain('break-glass restore of');
    // The aws CLI (Python) starts once per object: 90-100 s here even alone, more on a loaded machine.
  }, 300_000);

  it('stops with an error naming the artifact when a stored object does not match its checksum', async () => {
    const script = join(p.dir, 'break-glass.sh');
    const dir = p.config().store.url.slice('file://'.length);
    const art = manifest.artifacts.find((a) => a.kind === 'redis-rdb')!;
    const path = join(dir, ...art.key.split('/'));
    const original = await readFile(path);
    await writeFile(path, Buffer.concat([original, Buffer.from('x')]));
    try {
      const r = await runScript(script, {
        STORE: dir,
        KEY: p.identityFile,
        PG_URL: `postgres://postgres:${PG_PASSWORD}@127.0.0.1:${p.pg.port}`,
        PG_DB: 'gushen_breakglass2',
        REDIS_DIR: join(p.dir, 'redis-2'),
        NAMESPACE: 'breakglass2',
        KUBECONFIG: p.kubeconfig,
        ID: manifest.id,
      });
      expect(r.code).not.toBe(0);
      expect(r.out + r.err).toContain(`${art.key}: FAILED`);
      const dbs = await p.pg.query('postgres', 'select datname from pg_database');
      expect(dbs.rows.map((x: { datname: string }) => x.datname)).not.toContain('gushen_breakglass2');
    } finally {
      await writeFile(path, original);
    }
  });

  it('stops before creating the database when the dump has no plaintext SHA-256 and its zstd frames were damaged (re-encrypted, stored checksum fixed)', async () => {
    const script = join(p.dir, 'break-glass.sh');
    const dir = p.config().store.url.slice('file://'.length);
    const art = manifest.artifacts.find((a) => a.kind === 'pg_dump-custom')!;
    const path = join(dir, ...art.key.split('/'));
    const manifestFile = join(dir, ...manifestKey(manifest.id).split('/'));
    const [original, originalManifest] = await Promise.all([readFile(path), readFile(manifestFile)]);
    const tool = (cmd: string, args: string[], input: Buffer) => {
      const r = spawnSync(cmd, args, { input, maxBuffer: 1 << 30 });
      if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
      return r.stdout;
    };
    const frames = tool('age', ['-d', '-i', p.identityFile], original);
    frames[Math.floor(frames.length / 2)] ^= 0x01;
    const forged = tool('age', ['-r', art.encryption.recipients[0]], frames);
    const m = JSON.parse(originalManifest.toString());
    m.artifacts.find((a: { kind: string }) => a.kind === 'pg_dump-custom').stored = { size: forged.length, sha256: createHash('sha256').update(forged).digest('hex') };
    await Promise.all([writeFile(path, forged), writeFile(manifestFile, JSON.stringify(m, null, 2))]);
    try {
      // Without SIGN_PUB: the edited manifest's signature is not checked, so only zstd's checksum stands in the way.
      const r = await runScript(script, {
        STORE: dir,
        KEY: p.identityFile,
        PG_URL: `postgres://postgres:${PG_PASSWORD}@127.0.0.1:${p.pg.port}`,
        PG_DB: 'gushen_breakglass_zstd',
        REDIS_DIR: join(p.dir, 'redis-zstd'),
        NAMESPACE: 'breakglass-zstd',
        KUBECONFIG: p.kubeconfig,
        ID: manifest.id,
      });
      expect(r.code).not.toBe(0);
      expect(r.err).toContain(`${art.name}: age or zstd failed (a damaged artifact)`);
      expect(await databases()).not.toContain('gushen_breakglass_zstd');
    } finally {
      await Promise.all([writeFile(path, original), writeFile(manifestFile, originalManifest)]);
    }
  });

  /** The script against the file store for backup `id` (empty: the newest), into targets nothing else uses. */
  const runOnFileStore = (name: string, env: Record<string, string>) =>
    runScript(join(p.dir, 'break-glass.sh'), {
      STORE: p.config().store.url.slice('file://'.length),
      KEY: p.identityFile,
      PG_URL: `postgres://postgres:${PG_PASSWORD}@127.0.0.1:${p.pg.port}`,
      PG_DB: `gushen_${name}`,
      REDIS_DIR: join(p.dir, `redis-${name}`),
      NAMESPACE: name.replace(/_/g, '-'),
      KUBECONFIG: p.kubeconfig,
      ...env,
    });
  const databases = async () => (await p.pg.query('postgres', 'select datname from pg_database')).rows.map((x: { datname: string }) => x.datname);

  it('refuses a manifest whose artifact key points outside its backup (no signing needed), before fetching anything', async () => {
    const file = join(p.config().store.url.slice('file://'.length), ...manifestKey(manifest.id).split('/'));
    const original = await readFile(file);
    const other = `${manifest.id.slice(0, 9)}000000Z-nightly`;
    const m = JSON.parse(original.toString());
    m.artifacts.find((a: { kind: string }) => a.kind === 'redis-rdb').key = artifactKey(other, 'redis/dump.rdb', 'zstd');
    await writeFile(file, JSON.stringify(m, null, 2));
    try {
      const r = await runOnFileStore('bg_outside', { ID: manifest.id });
      expect(r.code).not.toBe(0);
      expect(r.err).toContain(`manifest of ${manifest.id}: artifact keys outside its backup: backups/${other}/redis/dump.rdb.zst.age`);
      expect(await databases()).not.toContain('gushen_bg_outside');
    } finally {
      await writeFile(file, original);
    }
  });

  it.skipIf(!signs)('with SIGN_PUB: refuses a flipped byte and an unsigned manifest by id, and skips a newer unsigned one for the newest', async () => {
    const dir = p.config().store.url.slice('file://'.length);
    const file = join(dir, ...manifestKey(manifest.id).split('/'));
    const original = await readFile(file);
    const flipped = Buffer.from(original);
    const i = flipped.indexOf('"rows": ') + '"rows": '.length;
    flipped[i] = flipped[i] === 0x31 ? 0x32 : 0x31;
    await writeFile(file, flipped);
    try {
      const r = await runOnFileStore('bg_flipped', { ...signEnv, ID: manifest.id });
      expect(r.code).not.toBe(0);
      expect(r.err).toContain(`manifest of ${manifest.id}: signature missing or not valid for SIGN_PUB: not trusted, refused`);
      expect(await databases()).not.toContain('gushen_bg_flipped');
    } finally {
      await writeFile(file, original);
    }

    // Someone with write access adds a newer Completed manifest (no signature): never picked, refused by id.
    const forged = `${manifest.id.slice(0, 9)}235959Z-nightly`;
    const m = JSON.parse(original.toString());
    m.id = forged;
    for (const a of m.artifacts) a.key = artifactKey(forged, a.name, a.compression);
    await mkdir(join(dir, 'backups', forged), { recursive: true });
    await writeFile(join(dir, ...manifestKey(forged).split('/')), JSON.stringify(m, null, 2));
    try {
      const byId = await runOnFileStore('bg_forged', { ...signEnv, ID: forged });
      expect(byId.code).not.toBe(0);
      expect(byId.err).toContain(`manifest of ${forged}: signature missing or not valid for SIGN_PUB`);
      const newest = await runOnFileStore('bg_newest', signEnv);
      expect(newest.err).toBe('');
      expect(newest.code).toBe(0);
      expect(newest.out).toContain(`backup ${manifest.id} (manifest signature: verified)`);
    } finally {
      await rm(join(dir, 'backups', forged), { recursive: true });
    }
  });
});
