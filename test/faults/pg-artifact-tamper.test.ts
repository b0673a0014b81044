/**
 * A PostgreSQL dump compressed by the zstd CLI straight from pg_dump's stdout (format version 2) has no plaintext
 * SHA-256 in the manifest: what proves it is the stored object's size and SHA-256 (`verify`), age's authenticated
 * chunks, the zstd frames' content checksum and the plaintext size zstd counted (`verify --deep`). Each case damages
 * the stored artifact (truncated, one bit flipped) or, worse, replaces it with a well-formed re-encryption of damaged
 * zstd frames and fixes the manifest's stored size and SHA-256 to match: `verify` or `verify --deep` (through the CLI)
 * must exit 1 naming the artifact, and an untouched backup must pass both.
 */
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/engine/backup.js';
import type { Config } from '../../src/config/schema.js';
import { configSchema } from '../../src/sources/registry.js';
import { formatIdentityFile, generateX25519Identity } from '../../src/crypto/index.js';
import { manifestKey } from '../../src/repository/layout.js';
import type { Manifest } from '../../src/repository/manifest.js';
import { openStore } from '../../src/store/open.js';
import { silentLogger } from '../../src/util/log.js';
import { createPlatformDataset } from '../support/pg-dataset.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';
import { runCliProcess } from '../support/cli-process.js';
import { tempDir } from '../support/tmp.js';

const NAME = 'postgres/gushen.dump';

describe('a PostgreSQL artifact without a plaintext SHA-256 (zstd CLI straight from pg_dump): damage is still caught', () => {
  let server: TestPostgres;
  let dir: { path: string; cleanup: () => Promise<void> };
  let config: Config;
  let cfgFile: string;
  let manifest: Manifest;
  let key: ReturnType<typeof generateX25519Identity>;
  const storeDir = () => join(dir.path, 'store');
  const pathOf = (k: string) => join(storeDir(), ...k.split('/'));
  const artifact = () => manifest.artifacts.find((a) => a.name === NAME)!;

  beforeAll(async () => {
    [server, dir] = await Promise.all([startPostgres(), tempDir()]);
    await server.query('postgres', 'create database gushen');
    await createPlatformDataset(server.urlFor('gushen'), { rows: 20_000 });
    key = generateX25519Identity();
    const idFile = join(dir.path, 'id.txt');
    await writeFile(idFile, formatIdentityFile(key.identity, key.recipient, new Date()), { mode: 0o600 });
    const raw = {
      store: { url: `file://${storeDir()}` },
      encryption: { recipients: [key.recipient], identityFile: idFile },
      sources: { postgres: { url: `${server.url}/`, databases: ['gushen'], globals: false } },
      scratchDir: dir.path,
    };
    config = configSchema.parse(raw);
    cfgFile = join(dir.path, 'gushen-dr.yaml');
    await writeFile(cfgFile, JSON.stringify(raw));
    manifest = await runBackup({ config, store: openStore(config.store), schedule: 'manual', only: ['postgres'], log: silentLogger });
    expect(manifest.status).toBe('Completed');
  });
  afterAll(async () => {
    await Promise.all([server?.stop(), dir?.cleanup()]);
  });

  it('the backup is format version 2, its dump has the plaintext size zstd counted and no SHA-256, and it passes verify and verify --deep', async () => {
    expect(manifest.formatVersion).toBe(2);
    const a = artifact();
    expect(a.sha256).toBeUndefined();
    expect(a.compression).toBe('zstd');
    // The size zstd reported is the dump's: decrypt and decompress it by hand.
    const plain = decryptDecompress(await readFile(pathOf(a.key)));
    expect(plain.length).toBe(a.size);
    expect(plain.subarray(0, 5).toString()).toBe('PGDMP');
    for (const deep of [false, true]) {
      const r = await runCliProcess(['--config', cfgFile, 'verify', manifest.id, ...(deep ? ['--deep'] : [])]);
      expect(r.code, r.stderr).toBe(0);
    }
  });

  /** Applies `damage` to the stored object (and optionally the manifest), runs verify (and --deep), restores both. */
  const withDamage = async (
    damage: (bytes: Buffer) => Buffer,
    opts: { fixManifest?: boolean } = {},
  ): Promise<{ shallow: { code: number | null; out: string }; deep: { code: number | null; out: string } }> => {
    const objFile = pathOf(artifact().key);
    const manFile = pathOf(manifestKey(manifest.id));
    const [savedObj, savedMan] = await Promise.all([readFile(objFile), readFile(manFile)]);
    try {
      const damaged = damage(Buffer.from(savedObj));
      await writeFile(objFile, damaged);
      if (opts.fixManifest) {
        const m = JSON.parse(savedMan.toString());
        const a = m.artifacts.find((x: { name: string }) => x.name === NAME);
        a.stored = { size: damaged.length, sha256: createHash('sha256').update(damaged).digest('hex') };
        await writeFile(manFile, JSON.stringify(m, null, 2));
      }
      const s = await runCliProcess(['--config', cfgFile, 'verify', manifest.id]);
      const d = await runCliProcess(['--config', cfgFile, 'verify', manifest.id, '--deep']);
      return { shallow: { code: s.code, out: s.stdout + s.stderr }, deep: { code: d.code, out: d.stdout + d.stderr } };
    } finally {
      await Promise.all([writeFile(objFile, savedObj), writeFile(manFile, savedMan)]);
    }
  };

  it('truncated: verify and verify --deep fail on the stored size', async () => {
    const r = await withDamage((b) => b.subarray(0, b.length - 1000));
    for (const x of [r.shallow, r.deep]) {
      expect(x.code).toBe(1);
      expect(x.out).toMatch(/postgres\/gushen\.dump.*stored size is \d+ bytes, the manifest says \d+/);
    }
  });

  it('one bit flipped: verify and verify --deep fail on the stored SHA-256', async () => {
    const r = await withDamage((b) => ((b[Math.floor(b.length / 2)] ^= 0x04), b));
    for (const x of [r.shallow, r.deep]) {
      expect(x.code).toBe(1);
      expect(x.out).toMatch(/postgres\/gushen\.dump.*SHA-256/);
    }
  });

  it('truncated, with the manifest fixed to match: verify passes (it checks what is stored) and verify --deep fails (age: the last chunk is missing)', async () => {
    const r = await withDamage((b) => b.subarray(0, b.length - 1000), { fixManifest: true });
    expect(r.shallow.code).toBe(0);
    expect(r.deep.code).toBe(1);
    expect(r.deep.out).toMatch(/postgres\/gushen\.dump/);
  });

  it('a bit flipped, with the manifest fixed to match: verify --deep fails (age authenticates every chunk)', async () => {
    const r = await withDamage((b) => ((b[Math.floor(b.length / 2)] ^= 0x04), b), { fixManifest: true });
    expect(r.deep.code).toBe(1);
    expect(r.deep.out).toMatch(/postgres\/gushen\.dump.*(authentication|decrypt)/i);
  });

  it('a bit flipped inside the zstd frames, re-encrypted to the recipient, manifest fixed: verify --deep fails on the zstd checksum', async () => {
    const r = await withDamage(
      (b) => {
        const frames = decrypt(b);
        frames[Math.floor(frames.length / 2)] ^= 0x01;
        return encrypt(frames);
      },
      { fixManifest: true },
    );
    expect(r.shallow.code).toBe(0);
    expect(r.deep.code).toBe(1);
    expect(r.deep.out).toMatch(/postgres\/gushen\.dump.*(zstd|checksum|corrupt)/i);
  });

  it('the zstd frames cut short, re-encrypted, manifest fixed: verify --deep fails (zstd: truncated input)', async () => {
    const r = await withDamage((b) => encrypt(decrypt(b).subarray(0, Math.floor(b.length * 0.6))), { fixManifest: true });
    expect(r.shallow.code).toBe(0);
    expect(r.deep.code).toBe(1);
    expect(r.deep.out).toMatch(/postgres\/gushen\.dump/);
  });

  it('a whole valid dump of fewer rows in its place (valid frames, re-encrypted), manifest fixed: verify --deep fails on the plaintext size', async () => {
    const r = await withDamage(
      (b) => {
        const plain = decryptDecompress(b);
        return encrypt(zstd(plain.subarray(0, plain.length - 1), ['-1']));
      },
      { fixManifest: true },
    );
    expect(r.deep.code).toBe(1);
    expect(r.deep.out).toMatch(/postgres\/gushen\.dump.*plaintext: size is \d+ bytes, the manifest says \d+/);
  });

  // The age and zstd command-line tools, as the break-glass procedure uses them.
  const tool = (cmd: string, args: string[], input: Buffer): Buffer => {
    const r = spawnSync(cmd, args, { input, maxBuffer: 1 << 30 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const identityFile = () => join(dir.path, 'id.txt');
  const decrypt = (b: Buffer) => tool('age', ['-d', '-i', identityFile()], b);
  const encrypt = (b: Buffer) => tool('age', ['-r', key.recipient], b);
  const zstd = (b: Buffer, args: string[]) => tool('zstd', ['-q', '-c', ...args], b);
  const decryptDecompress = (b: Buffer) => zstd(decrypt(b), ['-d']);
});
