/**
 * Interoperability with the reference age CLI (age 1.1.x): ciphertext must be
 * byte-compatible in both directions. Skipped when `age` is not on PATH.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDecryptStream,
  createEncryptStream,
  createPassphraseEncryptStream,
  formatIdentityFile,
  generateX25519Identity,
  parseIdentity,
  parseIdentityFile,
  type Identity,
} from '../../src/crypto/index.js';

const run = promisify(execFile);

function available(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

const hasAge = available('age', ['--version']) && available('age-keygen', ['--version']);
const hasScript = hasAge && available('script', ['--version']);
if (!hasAge) console.warn('age-interop: skipping, the `age` / `age-keygen` CLI is not on PATH (install age 1.1+ to run these tests)');
else if (!hasScript) console.warn('age-interop: skipping passphrase tests, util-linux `script` is needed to give age a TTY');

const MiB = 1024 * 1024;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function encryptToFile(t: Transform, pt: Buffer, file: string): Promise<void> {
  await pipeline(Readable.from([pt]), t, createWriteStream(file));
}

async function decryptFile(file: string, ids: Identity[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    createReadStream(file),
    createDecryptStream(ids),
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        out.push(chunk);
        cb();
      },
    }),
  );
  return Buffer.concat(out);
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * age reads passphrases from the terminal only, so run it under `script` (a pty)
 * and type the passphrase whenever it prompts for one.
 */
function ageWithPassphrase(args: string[], passphrase: string, prompts: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const cmd = ['age', ...args].map(shq).join(' ');
    const child = spawn('script', ['-q', '-e', '-c', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let answered = 0;
    const onData = (d: Buffer): void => {
      output += d.toString();
      const asked = (output.match(/passphrase/gi) ?? []).length;
      while (answered < Math.min(asked, prompts)) {
        child.stdin.write(passphrase + '\n');
        answered++;
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`age timed out; output so far: ${output}`));
    }, 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`age exited with ${code}: ${output}`));
    });
  });
}

describe.skipIf(!hasAge)('age CLI interop', () => {
  let dir: string;
  let keyFile: string;
  let ageKeygenIds: Identity[];
  let ageKeygenRecipient: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'age-interop-'));
    keyFile = join(dir, 'age-keygen.txt');
    await run('age-keygen', ['-o', keyFile]);
    ageKeygenIds = parseIdentityFile(await readFile(keyFile, 'utf8'));
    ageKeygenRecipient = (await run('age-keygen', ['-y', keyFile])).stdout.trim();
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('parses age-keygen identity files to the same recipient', () => {
    expect(ageKeygenIds).toHaveLength(1);
    expect(ageKeygenIds[0].type === 'x25519' && ageKeygenIds[0].recipient).toBe(ageKeygenRecipient);
  });

  it.each([0, 1, 65535, 65536, 65537, 5 * MiB + 1])('our encryption of %i bytes is decrypted by `age -d`', async (n) => {
    const pt = randomBytes(n);
    const ct = join(dir, `ours-${n}.age`);
    await encryptToFile(createEncryptStream([ageKeygenRecipient]), pt, ct);
    // (age -o creates no file for an empty plaintext, so read its stdout.)
    const { stdout } = await run('age', ['-d', '-i', keyFile, ct], { encoding: 'buffer', maxBuffer: 64 * MiB });
    expect(sha(stdout)).toBe(sha(pt));
  });

  it.each([0, 1, 65536, 5 * MiB + 1])('`age -r` encryption of %i bytes is decrypted by us', async (n) => {
    const pt = randomBytes(n);
    const input = join(dir, `theirs-${n}.in`);
    const ct = join(dir, `theirs-${n}.age`);
    await writeFile(input, pt);
    await run('age', ['-r', ageKeygenRecipient, '-o', ct, input]);
    expect(sha(await decryptFile(ct, ageKeygenIds))).toBe(sha(pt));
  });

  it('`age -R` with several recipients (one of ours) is decrypted by each identity', async () => {
    const ours = generateX25519Identity();
    const recipientsFile = join(dir, 'recipients.txt');
    await writeFile(recipientsFile, `# team\n${ageKeygenRecipient}\n${ours.recipient}\n`);
    const pt = randomBytes(200_000);
    const input = join(dir, 'multi.in');
    const ct = join(dir, 'multi.age');
    await writeFile(input, pt);
    await run('age', ['-R', recipientsFile, '-o', ct, input]);
    expect((await decryptFile(ct, ageKeygenIds)).equals(pt)).toBe(true);
    expect((await decryptFile(ct, [parseIdentity(ours.identity)])).equals(pt)).toBe(true);
  });

  it('our identity files work with `age -d -i` and `age-keygen -y`; multi-recipient files decrypt for each', async () => {
    const ours = generateX25519Identity();
    const ourKeyFile = join(dir, 'ours-key.txt');
    await writeFile(ourKeyFile, formatIdentityFile(ours.identity, ours.recipient, new Date()), { mode: 0o600 });
    expect((await run('age-keygen', ['-y', ourKeyFile])).stdout.trim()).toBe(ours.recipient);

    const pt = randomBytes(3 * 65536 + 17);
    const ct = join(dir, 'two.age');
    await encryptToFile(createEncryptStream([ageKeygenRecipient, ours.recipient]), pt, ct);
    for (const k of [keyFile, ourKeyFile]) {
      const out = join(dir, 'two.out');
      await run('age', ['-d', '-i', k, '-o', out, ct]);
      expect(sha(await readFile(out))).toBe(sha(pt));
    }
  });

  it('`age -d` rejects our ciphertext when truncated or tampered, as we do', async () => {
    const pt = randomBytes(100_000);
    const ct = join(dir, 'tamper.age');
    await encryptToFile(createEncryptStream([ageKeygenRecipient]), pt, ct);
    const bytes = await readFile(ct);
    const bad = join(dir, 'tamper-bad.age');
    await writeFile(bad, bytes.subarray(0, bytes.length - 70_000));
    await expect(run('age', ['-d', '-i', keyFile, '-o', join(dir, 'x.out'), bad])).rejects.toThrow();
    await expect(decryptFile(bad, ageKeygenIds)).rejects.toMatchObject({ code: 'BAD_CHUNK' });
  });

  describe.skipIf(!hasScript)('passphrases (via a pty)', () => {
    const passphrase = 'interop passphrase with spaces 1234';

    it('our scrypt encryption is decrypted by `age -d`', async () => {
      const pt = randomBytes(300_000);
      const ct = join(dir, 'pass-ours.age');
      const out = join(dir, 'pass-ours.out');
      await encryptToFile(createPassphraseEncryptStream(passphrase, 12), pt, ct);
      await ageWithPassphrase(['-d', '-o', out, ct], passphrase, 1);
      expect(sha(await readFile(out))).toBe(sha(pt));
    });

    it('`age -p` encryption (logN 18) is decrypted by us', async () => {
      const pt = randomBytes(300_000);
      const input = join(dir, 'pass-theirs.in');
      const ct = join(dir, 'pass-theirs.age');
      await writeFile(input, pt);
      await ageWithPassphrase(['-p', '-o', ct, input], passphrase, 2);
      const header = (await readFile(ct)).toString('latin1', 0, 100);
      expect(header).toMatch(/^age-encryption\.org\/v1\n-> scrypt \S{22} 18\n/);
      expect((await decryptFile(ct, [{ type: 'scrypt', passphrase }])).equals(pt)).toBe(true);
      await expect(decryptFile(ct, [{ type: 'scrypt', passphrase: 'wrong' }])).rejects.toMatchObject({ code: 'NO_MATCH' });
    });
  });
});
