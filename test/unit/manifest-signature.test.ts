/**
 * Manifest signatures (issue 16, defect 6) on a real file store, without databases: signing and checking, the
 * catalog's statuses and `latest`, artifact keys bound to their backup, key files, retention, keygen --signing,
 * and OpenSSL reading what gushen-dr writes (and the other way round).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateSigningKeyPair, parseSigningPrivateKey, type SigningKeyPair } from '../../src/crypto/ed25519.js';
import { loadSigningKey, loadSigningPublicKeys } from '../../src/config/signing.js';
import type { Config } from '../../src/config/schema.js';
import { parseConfig } from '../../src/sources/registry.js';
import { listBackups, readManifest, resolveBackup, type CatalogEntry } from '../../src/repository/catalog.js';
import { artifactKey, manifestKey, manifestSignatureKey } from '../../src/repository/layout.js';
import type { Manifest } from '../../src/repository/manifest.js';
import { parseManifest, serializeManifest } from '../../src/repository/manifest-json.js';
import { ManifestSignatureError, writeManifest } from '../../src/repository/manifest-signature.js';
import { prune } from '../../src/repository/prune.js';
import { silentLogger } from '../../src/util/log.js';
import { FileStore } from '../../src/store/file.js';
import { UsageError, errorMessage } from '../../src/util/errors.js';
import { runCli } from '../../src/cli.js';
import { testManifest } from '../support/manifest.js';
import { tempDir } from '../support/tmp.js';
import { hasCommand } from '../support/commands.js';

const R = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
const SHA = 'a'.repeat(64);

function manifestOf(id: string): Manifest {
  return testManifest(id, [
    {
      name: 'postgres/gushen.dump',
      source: 'postgres',
      kind: 'pg_dump-custom',
      key: artifactKey(id, 'postgres/gushen.dump', 'zstd'),
      size: 1,
      sha256: SHA,
      compression: 'zstd',
      encryption: { format: 'age-encryption.org/v1', recipients: [R] },
      stored: { size: 1, sha256: SHA },
      verifiedAt: new Date().toISOString(),
      facts: { type: 'test' },
    } as unknown as Manifest['artifacts'][number],
  ]);
}

const A = '20261124T020000Z-nightly';
const B = '20261125T020000Z-nightly';
const C = '20261126T020000Z-nightly';

let dir: { path: string; cleanup: () => Promise<void> };
let store: FileStore;
let ours: SigningKeyPair;
let theirs: SigningKeyPair;
const pathOf = (key: string) => join(dir.path, 'store', ...key.split('/'));

beforeEach(async () => {
  dir = await tempDir();
  store = new FileStore(join(dir.path, 'store'));
  ours = parseSigningPrivateKey(generateSigningKeyPair().privatePem);
  theirs = parseSigningPrivateKey(generateSigningKeyPair().privatePem);
});
afterEach(async () => dir.cleanup());

async function messageOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return errorMessage(err);
  }
  throw new Error('expected a refusal');
}

describe('signed manifests in the store', () => {
  it('writes the signature first and the manifest last, and reads back a manifest signed by a trusted key', async () => {
    const order: string[] = [];
    const recording = Object.create(store) as FileStore;
    recording.put = (key, body, opts) => {
      order.push(key);
      return store.put(key, body, opts);
    };
    const bytes = await writeManifest(recording, manifestOf(A), ours);
    expect(order).toEqual([manifestSignatureKey(A), manifestKey(A)]);
    expect(await readFile(pathOf(manifestKey(A)))).toEqual(bytes);
    expect((await readFile(pathOf(manifestSignatureKey(A)))).length).toBe(64);
    expect((await readManifest(store, A, { publicKeys: [ours.publicKey] })).id).toBe(A);
    // rotation: any of several trusted keys will do
    expect((await readManifest(store, A, { publicKeys: [theirs.publicKey, ours.publicKey] })).id).toBe(A);
  });

  it('refuses an unsigned manifest, one with a flipped byte, one signed by another key and a malformed signature, naming the backup', async () => {
    const trust = { publicKeys: [ours.publicKey] };
    await writeManifest(store, manifestOf(A));
    const unsigned = await messageOf(readManifest(store, A, trust));
    expect(unsigned).toMatch(new RegExp(`^manifest ${A} is not signed \\(no manifest.json.sig\\)`));

    await writeManifest(store, manifestOf(B), ours);
    const file = pathOf(manifestKey(B));
    const bytes = await readFile(file);
    const i = bytes.indexOf('"host": "test"');
    bytes[i + 12] ^= 0x20; // "test" -> "tesT": still a valid manifest, no longer what was signed
    await writeFile(file, bytes);
    expect(parseManifest(bytes.toString(), B).host).toBe('tesT');
    const flipped = readManifest(store, B, trust);
    await expect(flipped).rejects.toBeInstanceOf(ManifestSignatureError);
    expect(await messageOf(readManifest(store, B, trust))).toMatch(new RegExp(`^manifest ${B}: its signature does not verify with the configured signing public key \\(${ours.publicKey.fingerprint}\\)`));

    await writeManifest(store, manifestOf(C), theirs);
    expect(await messageOf(readManifest(store, C, trust))).toContain(`manifest ${C}: its signature does not verify`);
    await writeFile(pathOf(manifestSignatureKey(C)), 'not a signature');
    expect(await messageOf(readManifest(store, C, trust))).toBe(`manifest ${C}: manifest.json.sig is 15 bytes, not a 64-byte Ed25519 signature: not trusted`);

    // without public keys nothing is checked (signing is optional)
    expect((await readManifest(store, A)).id).toBe(A);
  });

  it('list shows Unsigned / BadSignature; latest skips them, names them, and fails naming them when nothing is left', async () => {
    const trust = { publicKeys: [ours.publicKey] };
    await writeManifest(store, manifestOf(A), ours);
    await writeManifest(store, manifestOf(B), theirs);
    await writeManifest(store, manifestOf(C));
    const entries = await listBackups(store, trust);
    expect(entries.map((e) => [e.id, e.status])).toEqual([
      [A, 'Completed'],
      [B, 'BadSignature'],
      [C, 'Unsigned'],
    ]);
    expect(entries[1].manifest).toBeUndefined();
    expect(entries[2].problem).toContain(`manifest ${C} is not signed`);

    const skipped: CatalogEntry[] = [];
    expect((await resolveBackup(store, 'latest', { ...trust, onUntrusted: (e) => skipped.push(e) })).id).toBe(A);
    expect(skipped.map((e) => `${e.id} ${e.status}`)).toEqual([`${B} BadSignature`, `${C} Unsigned`]);
    expect(await messageOf(resolveBackup(store, C, trust))).toContain(`manifest ${C} is not signed`);
    // without keys the newest is someone else's: the attack this prevents
    expect((await resolveBackup(store, 'latest')).id).toBe(C);

    expect(await messageOf(resolveBackup(store, 'latest', { publicKeys: [generateKeyOnly()] }))).toMatch(
      new RegExp(`^no Completed backup in .*; not trusted: ${A} \\(BadSignature\\), ${B} \\(BadSignature\\), ${C} \\(Unsigned\\)$`),
    );
    expect((await resolveBackup(store, 'latest', { publicKeys: [theirs.publicKey] })).id).toBe(B);
  });

  it('prune keeps manifests that are not trusted, however old, and newer forged ones cannot push a good backup out', async () => {
    const keyFile = join(dir.path, 'signing.key');
    const pub = generateSigningKeyPair();
    await writeFile(keyFile, pub.privatePem, { mode: 0o600 });
    const config = parseConfig(
      `store: { url: "file://${join(dir.path, 'store')}" }\nencryption: { recipients: [${R}] }\nsources:\n  postgres: { url: "postgres://u@h:5432/", databases: [gushen] }\nretention: { nightly: 1 }\nsigning: { publicKeys: [${JSON.stringify(pub.publicKey.spki)}] }\n`,
      {},
      'cfg',
    ) as Config;
    const good = parseSigningPrivateKey(pub.privatePem);
    await writeManifest(store, manifestOf(A), good);
    await writeManifest(store, manifestOf(B), theirs);
    await writeManifest(store, manifestOf(C));
    for (const id of ['20261127T020000Z-nightly', '20261128T020000Z-nightly']) await writeManifest(store, manifestOf(id));
    const r = await prune({ store, config, log: silentLogger, dryRun: true, now: new Date('2027-06-01T00:00:00Z') });
    expect(r.decisions.map((d) => [d.id, d.status, d.action])).toEqual([
      [A, 'Completed', 'keep'],
      [B, 'BadSignature', 'keep'],
      [C, 'Unsigned', 'keep'],
      ['20261127T020000Z-nightly', 'Unsigned', 'keep'],
      ['20261128T020000Z-nightly', 'Unsigned', 'keep'],
    ]);
    expect(r.decisions[1].reason).toMatch(/^BadSignature: manifest not trusted/);
  });
});

function generateKeyOnly() {
  return parseSigningPrivateKey(generateSigningKeyPair().privatePem).publicKey;
}

describe('artifact keys are bound to their backup', () => {
  it('refuses a manifest whose artifact key points into another backup, or elsewhere, with no signing configured', () => {
    const m = manifestOf(B);
    const text = (key: string) => JSON.stringify({ ...m, artifacts: [{ ...m.artifacts[0], key }] });
    for (const key of [artifactKey(A, 'postgres/gushen.dump', 'zstd'), `backups/${B}/postgres/other.dump.zst.age`, 'locks/backup/x.json', `backups/${B}/postgres/gushen.dump.age`]) {
      expect(() => parseManifest(text(key), B)).toThrow(
        `manifest ${B} is invalid: artifacts.0 (postgres/gushen.dump) has key "${key}", expected "${artifactKey(B, 'postgres/gushen.dump', 'zstd')}": an artifact must be stored under its own backup`,
      );
    }
    expect(parseManifest(text(artifactKey(B, 'postgres/gushen.dump', 'zstd')), B).id).toBe(B);
    expect(() => serializeManifest({ ...m, artifacts: [{ ...m.artifacts[0], key: artifactKey(A, 'postgres/gushen.dump', 'zstd') }] })).toThrow(/must be stored under its own backup/);
  });

  it('the catalog lists such a manifest as not readable, never as Completed', async () => {
    await writeManifest(store, manifestOf(A));
    const m = manifestOf(B);
    await mkdir(join(dir.path, 'store', 'backups', B), { recursive: true });
    await writeFile(pathOf(manifestKey(B)), JSON.stringify({ ...m, artifacts: [{ ...m.artifacts[0], key: artifactKey(A, 'postgres/gushen.dump', 'zstd') }] }));
    const entries = await listBackups(store);
    expect(entries.find((e) => e.id === B)?.status).not.toBe('Completed');
    expect(entries.find((e) => e.id === B)?.problem).toContain('must be stored under its own backup');
    expect((await resolveBackup(store, 'latest')).id).toBe(A);
  });
});

describe('signing keys in the config', () => {
  const cfg = (signing: unknown): Config => parseConfig(`store: { url: "file:///tmp/x" }\nencryption: { recipients: [${R}] }\nsources:\n  postgres: { url: "postgres://u@h:5432/", databases: [gushen] }\nsigning: ${JSON.stringify(signing)}\n`, {}, 'cfg') as Config;

  it('reads public keys as PEM, as one line, and from a file of several (rotation); dedupes them', async () => {
    const k1 = generateSigningKeyPair();
    const k2 = generateSigningKeyPair();
    const file = join(dir.path, 'signing.pub');
    await writeFile(file, `# old key, until 2027\n${k1.publicPem}\n# new key\n${k2.publicPem}`);
    const keys = await loadSigningPublicKeys(cfg({ publicKeys: [k1.publicPem, k2.publicKey.spki], publicKeysFile: file }));
    expect(keys?.map((k) => k.fingerprint)).toEqual([k1.publicKey.fingerprint, k2.publicKey.fingerprint]);
    expect(await loadSigningPublicKeys(cfg({ keyFile: '/nowhere' }))).toBeUndefined();
  });

  it('refuses a key file without a key, garbage and a wrong key type as usage errors naming the place, never printing key material', async () => {
    const empty = join(dir.path, 'empty.pub');
    await writeFile(empty, '# nothing here\n');
    await expect(loadSigningPublicKeys(cfg({ publicKeysFile: empty }))).rejects.toThrow(new UsageError(`signing.publicKeysFile ${empty}: no public key in it`));
    await expect(loadSigningPublicKeys(cfg({ publicKeys: ['hello world'] }))).rejects.toThrow(/^signing\.publicKeys\[0\]: line 1: expected a PEM public key/);
    const rsa = execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const rsaFile = join(dir.path, 'rsa.key');
    await writeFile(rsaFile, rsa, { mode: 0o600 });
    const msg = await messageOf(loadSigningKey(cfg({ keyFile: rsaFile })));
    expect(msg).toBe(`signing.keyFile ${rsaFile}: expected an Ed25519 key, found rsa`);
    expect(msg).not.toContain('PRIVATE');
    await expect(loadSigningKey(cfg({ keyFile: join(dir.path, 'missing.key') }))).rejects.toBeInstanceOf(UsageError);
  });

  it('refuses a signing key that is not among the trusted public keys (every backup would be refused)', async () => {
    const k = generateSigningKeyPair();
    const other = generateSigningKeyPair();
    const keyFile = join(dir.path, 'signing.key');
    await writeFile(keyFile, k.privatePem, { mode: 0o600 });
    await expect(loadSigningKey(cfg({ keyFile, publicKeys: [other.publicPem] }))).rejects.toThrow(
      `signing.keyFile ${keyFile}: its public key (${k.publicKey.fingerprint}) is not among signing.publicKeys / publicKeysFile (${other.publicKey.fingerprint}): readers would refuse every backup it signs`,
    );
    expect((await loadSigningKey(cfg({ keyFile, publicKeys: [other.publicPem, k.publicPem] })))?.publicKey.fingerprint).toBe(k.publicKey.fingerprint);
  });
});

describe.skipIf(!hasCommand('openssl'))('OpenSSL reads what gushen-dr writes, and the other way round', () => {
  it('openssl pkeyutl -verify accepts the signature of the stored manifest bytes, and rejects a flipped byte', async () => {
    const k = generateSigningKeyPair();
    const pub = join(dir.path, 'signing.pub');
    await writeFile(pub, k.publicPem);
    await writeManifest(store, manifestOf(A), parseSigningPrivateKey(k.privatePem));
    const verify = () =>
      execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pub, '-rawin', '-in', pathOf(manifestKey(A)), '-sigfile', pathOf(manifestSignatureKey(A))], { encoding: 'utf8' });
    expect(verify()).toContain('Signature Verified Successfully');
    const bytes = await readFile(pathOf(manifestKey(A)));
    bytes[10] ^= 0x01;
    await writeFile(pathOf(manifestKey(A)), bytes);
    expect(verify).toThrow();
    // the documented fingerprint command gives the same fingerprint
    const fp = execFileSync('sh', ['-c', `openssl pkey -pubin -in '${pub}' -outform DER | sha256sum | cut -c1-16`], { encoding: 'utf8' }).trim();
    expect(`ed25519:${fp}`).toBe(k.publicKey.fingerprint);
  });

  it('a key from openssl genpkey -algorithm ed25519 is a signing key, and openssl pkey -pubout its public key', async () => {
    const keyFile = join(dir.path, 'ossl.key');
    execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', keyFile]);
    const pubFile = join(dir.path, 'ossl.pub');
    execFileSync('openssl', ['pkey', '-in', keyFile, '-pubout', '-out', pubFile]);
    const pair = parseSigningPrivateKey(await readFile(keyFile, 'utf8'));
    const [pub] = (await loadSigningPublicKeys({ signing: { publicKeysFile: pubFile } } as Config))!;
    expect(pub.spki).toBe(pair.publicKey.spki);
  });
});

describe('keygen --signing', () => {
  const keygen = async (...args: string[]) => {
    const stdout: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    const werr = process.stderr.write.bind(process.stderr);
    process.stdout.write = ((c: string) => (stdout.push(String(c)), true)) as typeof process.stdout.write;
    process.stderr.write = ((c: string) => (stdout.push(String(c)), true)) as typeof process.stderr.write;
    try {
      return { code: await runCli(['node', 'gushen-dr', 'keygen', ...args]), out: stdout.join('') };
    } finally {
      process.stdout.write = write;
      process.stderr.write = werr;
    }
  };

  it('writes the private key 0600 and the public key (PEM); prints the one-line form; never overwrites', async () => {
    const key = join(dir.path, 'keys', 'signing.key');
    const pub = join(dir.path, 'keys', 'signing.pub');
    const r = await keygen('--signing', '--out', key, '--public-out', pub);
    expect(r.code).toBe(0);
    expect((await stat(key)).mode & 0o777).toBe(0o600);
    const pair = parseSigningPrivateKey(await readFile(key, 'utf8'));
    expect(await readFile(pub, 'utf8')).toBe(`-----BEGIN PUBLIC KEY-----\n${pair.publicKey.spki}\n-----END PUBLIC KEY-----\n`);
    expect(r.out).toContain(`${pair.publicKey.spki}\n`);
    expect(r.out).not.toContain('PRIVATE KEY');

    const before = await readFile(key, 'utf8');
    const again = await keygen('--signing', '--out', key, '--public-out', join(dir.path, 'keys', 'new.pub'));
    expect(again.code).toBe(2);
    expect(again.out).toContain(`${key} already exists; refusing to overwrite a signing key`);
    expect(await readFile(key, 'utf8')).toBe(before);
    expect(await readdir(join(dir.path, 'keys'))).toEqual(['signing.key', 'signing.pub']);
  });

  it('leaves nothing behind when the public key file exists (neither the private key nor its directory)', async () => {
    const pub = join(dir.path, 'taken.pub');
    await writeFile(pub, 'someone else\n');
    const key = join(dir.path, 'new-dir', 'signing.key');
    const r = await keygen('--signing', '--out', key, '--public-out', pub);
    expect(r.code).toBe(2);
    expect(r.out).toContain(`${pub} already exists; refusing to overwrite a public key`);
    expect(await readdir(dir.path)).toEqual(['taken.pub']);
    expect(await readFile(pub, 'utf8')).toBe('someone else\n');
  });

  it('refuses mixed flags as usage errors before writing anything', async () => {
    expect((await keygen('--signing', '--out', join(dir.path, 'a.key'), '--recipient-out', join(dir.path, 'a.txt'))).code).toBe(2);
    expect((await keygen('--out', join(dir.path, 'b.key'), '--public-out', join(dir.path, 'b.pub'))).code).toBe(2);
    expect((await keygen('--signing', '--out', join(dir.path, 'c.key'), '--public-out', join(dir.path, 'c.key'))).code).toBe(2);
    expect(await readdir(dir.path)).toEqual([]);
  });
});
