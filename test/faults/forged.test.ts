/**
 * Forged backups (issue 16, defect 6). The age recipient is public and written in every manifest, so someone who can
 * write to the bucket can add a newer, well-formed Completed backup whose artifacts are encrypted to that recipient
 * and hold their own data (Secrets, keys). With signing configured (signing.keyFile on the backup side,
 * signing.publicKeysFile on the readers'), `restore latest`, `verify --deep` and `drill` must skip such a backup for
 * `latest` and name it, refuse it by id, and `list` / `prune` must show and keep it. Edits to a signed manifest
 * fail its signature; a manifest whose artifact key points into another backup is refused even without signing.
 * A real store, real servers, the real CLI.
 */
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveBackup, listBackups } from '../../src/repository/catalog.js';
import { runBackup } from '../../src/engine/backup.js';
import { verifyBackup } from '../../src/engine/verify.js';
import { runDrill } from '../../src/engine/drill/run.js';
import { loadIdentities } from '../../src/config/keys.js';
import { loadSigningPublicKeys } from '../../src/config/signing.js';
import type { Config } from '../../src/config/schema.js';
import { generateSigningKeyPair } from '../../src/crypto/ed25519.js';
import { manifestKey, manifestSignatureKey } from '../../src/repository/layout.js';
import type { Manifest } from '../../src/repository/manifest.js';
import { openStore } from '../../src/store/open.js';
import { errorMessage } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/log.js';
import { startPlatform, type Platform } from '../support/platform.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { runCliProcess } from '../support/cli-process.js';
import { FaultCounter, nextSecond } from './support.js';

const counter = new FaultCounter(import.meta.filename);
const PLANTED = 'attacker:planted';

describe('a forged newer backup from someone with write access to the store', () => {
  let p: Platform;
  let redis2: TestRedis;
  let signing: Record<string, string>;
  let config: Config;
  let good: Manifest;
  let forged: Manifest;
  let storeDir: string;
  let cfgFile: string;
  const store = () => openStore(config.store);
  const pathOf = (key: string) => join(storeDir, ...key.split('/'));

  const messageOf = async (f: () => Promise<unknown>): Promise<string> => {
    try {
      await f();
    } catch (err) {
      return errorMessage(err);
    }
    throw new Error('expected a refusal');
  };
  /** Runs `f` with the store's manifest of `id` edited by `edit`; puts it back afterwards. */
  const withEditedManifest = async <T>(id: string, edit: (bytes: Buffer) => Buffer, f: () => Promise<T>): Promise<T> => {
    const file = pathOf(manifestKey(id));
    const saved = await readFile(file);
    await writeFile(file, edit(Buffer.from(saved)));
    counter.fault();
    try {
      return await f();
    } finally {
      await writeFile(file, saved);
    }
  };
  const trust = async () => ({ publicKeys: await loadSigningPublicKeys(config) });

  beforeAll(async () => {
    [p, redis2] = await Promise.all([startPlatform({ rows: 3000, redisKeys: 800 }), startRedis()]);
    const keys = generateSigningKeyPair();
    signing = { keyFile: join(p.dir, 'signing.key'), publicKeysFile: join(p.dir, 'signing.pub') };
    await writeFile(signing.keyFile, keys.privatePem, { mode: 0o600 });
    await writeFile(signing.publicKeysFile, keys.publicPem);
    config = p.config({ signing });
    storeDir = config.store.url.slice('file://'.length);
    cfgFile = await p.writeConfig('signed.yaml', { signing });
    good = await runBackup({ config, store: store(), schedule: 'nightly', log: silentLogger });

    // The attacker: no signing key, the recipient read from the manifest, their own data in the platform's Redis.
    await nextSecond();
    await p.redis.client().set(PLANTED, 'their Secret');
    const attacker = p.config({ encryption: { recipients: good.artifacts[0].encryption.recipients } });
    forged = await runBackup({ config: attacker, store: openStore(attacker.store), schedule: 'nightly', log: silentLogger });
    await p.redis.client().del(PLANTED);
    counter.backup(2);
    counter.fault();
    expect([good.status, forged.status]).toEqual(['Completed', 'Completed']);
    expect(forged.id > good.id).toBe(true);
  });
  afterAll(async () => {
    await Promise.all([p?.stop(), redis2?.stop()]);
    await counter.report();
  });

  it('control: without signing.publicKeys the forged backup is latest and deep-verifies (the attack itself)', async () => {
    const m = await resolveBackup(store(), 'latest');
    expect(m.id).toBe(forged.id);
    const results = await verifyBackup({ store: store(), manifest: m, config, log: silentLogger, deep: { identities: await loadIdentities(config) } });
    expect(results.every((r) => r.ok)).toBe(true);
  });

  it('restore latest restores the signed backup and names the forged one; restore <forged id> exits 1 saying why', async () => {
    const r = await runCliProcess(['--config', cfgFile, 'restore', 'latest', '--only', 'redis', '--redis-url', redis2.url]);
    expect(r.stderr).toContain(`backup ${forged.id} skipped for latest: manifest ${forged.id} is not signed`);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`restore of ${good.id}`);
    expect(await redis2.client().exists(PLANTED)).toBe(0);
    expect(await redis2.client().dbsize()).toBeGreaterThan(0);
    await redis2.client().flushall();

    const byId = await runCliProcess(['--config', cfgFile, 'restore', forged.id, '--only', 'redis', '--redis-url', redis2.url]);
    expect(byId.code).toBe(1);
    expect(byId.stderr).toContain(`manifest ${forged.id} is not signed (no manifest.json.sig) and signing.publicKeys requires a signature`);
    expect(await redis2.client().dbsize()).toBe(0);
  });

  it('verify latest --deep verifies the signed backup; verify <forged id> --deep exits 1 naming it', async () => {
    const v = await runCliProcess(['--config', cfgFile, 'verify', 'latest', '--deep']);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain(`backup ${good.id} verified (deep)`);
    expect(v.stdout).toContain('manifest.json  (Ed25519 signature');
    expect(v.stderr).toContain(`backup ${forged.id} skipped for latest`);
    const f = await runCliProcess(['--config', cfgFile, 'verify', forged.id, '--deep']);
    expect(f.code).toBe(1);
    expect(f.stderr).toContain(`manifest ${forged.id} is not signed`);
  });

  it('drill of latest drills the signed backup and reports the skipped one; a drill of the forged id fails in select', async () => {
    const identities = await loadIdentities(config);
    const r = await runDrill({ store: store(), config, log: silentLogger, identities });
    expect(r.backup).toBe(good.id);
    expect(r.phases.find((x) => x.name === 'select')?.detail).toBe(`${good.id}; skipped, not trusted: ${forged.id} (Unsigned)`);
    expect(r.failure).toBeUndefined();
    expect(r.status).toBe('Passed');

    const f = await runDrill({ store: store(), config, log: silentLogger, identities, backup: forged.id });
    expect(f.status).toBe('Failed');
    expect(f.failure?.phase).toBe('select');
    expect(f.failure?.error).toContain(`manifest ${forged.id} is not signed`);
  });

  it('list shows it as Unsigned and why; prune keeps it and does not count it as Completed', async () => {
    const l = await runCliProcess(['--config', cfgFile, 'list']);
    expect(l.code).toBe(0);
    expect(l.stdout).toMatch(new RegExp(`${forged.id}\\s+nightly\\s+Unsigned`));
    expect(l.stdout).toContain(`Unsigned ${forged.id}: manifest ${forged.id} is not signed`);
    const pr = await runCliProcess(['--config', await p.writeConfig('prune.yaml', { signing, retention: { nightly: 1 } }), '-o', 'json', 'prune', '--dry-run']);
    expect(pr.code).toBe(0);
    const decisions = JSON.parse(pr.stdout).decisions as Array<{ id: string; status: string; action: string; reason: string }>;
    expect(decisions.find((d) => d.id === good.id)).toMatchObject({ status: 'Completed', action: 'keep' });
    expect(decisions.find((d) => d.id === forged.id)).toMatchObject({ status: 'Unsigned', action: 'keep' });
  });

  it('a flipped byte in the signed manifest fails its signature: refused by id, never latest', async () => {
    await withEditedManifest(
      good.id,
      (b) => {
        const i = b.indexOf('"rows": ') + '"rows": '.length;
        b[i] = b[i] === 0x31 ? 0x32 : 0x31; // one row count digit: still a valid manifest
        return b;
      },
      async () => {
        const msg = await messageOf(async () => resolveBackup(store(), good.id, await trust()));
        expect(msg).toMatch(new RegExp(`^manifest ${good.id}: its signature does not verify with the configured signing public key \\(ed25519:[0-9a-f]{16}\\)`));
        const latest = await messageOf(async () => resolveBackup(store(), 'latest', await trust()));
        expect(latest).toContain(`not trusted: ${good.id} (BadSignature), ${forged.id} (Unsigned)`);
        const r = await runCliProcess(['--config', cfgFile, 'restore', good.id, '--only', 'redis', '--redis-url', redis2.url]);
        expect(r.code).toBe(1);
        expect(r.stderr).toContain(`manifest ${good.id}: its signature does not verify`);
        expect((await listBackups(store(), await trust())).find((e) => e.id === good.id)?.status).toBe('BadSignature');
      },
    );
  });

  it('a signed manifest and its signature copied under a newer id are refused (the id is part of what is signed)', async () => {
    const replay = `${forged.id.slice(0, 9)}235959Z-nightly`;
    await mkdir(join(storeDir, 'backups', replay), { recursive: true });
    await copyFile(pathOf(manifestSignatureKey(good.id)), pathOf(manifestSignatureKey(replay)));
    await copyFile(pathOf(manifestKey(good.id)), pathOf(manifestKey(replay)));
    counter.fault();
    try {
      expect((await resolveBackup(store(), 'latest', await trust())).id).toBe(good.id);
      expect(await messageOf(async () => resolveBackup(store(), replay, await trust()))).toBe(`manifest ${replay} names another backup id (${good.id}): it was moved or tampered with`);
    } finally {
      const { rm } = await import('node:fs/promises');
      await rm(join(storeDir, 'backups', replay), { recursive: true });
    }
  });

  it('without signing: a manifest whose artifact key points into another backup is refused, nothing restored', async () => {
    const fa = forged.artifacts.find((a) => a.name === 'redis/dump.rdb')!;
    const msg = await withEditedManifest(
      good.id,
      (b) => {
        const m = JSON.parse(b.toString()) as Manifest;
        const a = m.artifacts.find((x) => x.name === 'redis/dump.rdb')!;
        // everything the attacker's artifact needs to pass the size and hash checks, and its key
        Object.assign(a, { key: fa.key, size: fa.size, sha256: fa.sha256, stored: fa.stored, facts: fa.facts });
        return Buffer.from(JSON.stringify(m, null, 2));
      },
      async () => {
        const r = await runCliProcess(['--config', await p.writeConfig('unsigned.yaml'), 'restore', good.id, '--only', 'redis', '--redis-url', redis2.url]);
        expect(r.code).toBe(1);
        expect(await redis2.client().dbsize()).toBe(0);
        return messageOf(() => resolveBackup(store(), good.id));
      },
    );
    const i = good.artifacts.findIndex((a) => a.name === 'redis/dump.rdb');
    expect(msg).toBe(
      `manifest ${good.id} is invalid: artifacts.${i} (redis/dump.rdb) has key "${fa.key}", expected "backups/${good.id}/redis/dump.rdb.zst.age": an artifact must be stored under its own backup`,
    );
  });
});
