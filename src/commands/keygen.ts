import { open, mkdir, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { formatIdentityFile, generateX25519Identity } from '../crypto/index.js';
import { generateSigningKeyPair } from '../crypto/ed25519.js';
import { UsageError } from '../util/errors.js';
import { out } from './common.js';

/** Writes a new age identity (mode 0600, never overwriting) and prints its recipient; with `signing`, a manifest signing key. */
export async function keygenCommand(opts: { out: string; recipientOut?: string; signing?: boolean; publicOut?: string }): Promise<number> {
  // `--signing`: a manifest signing key (Ed25519, PKCS#8 PEM) and its public key (PEM).
  if (opts.signing && opts.recipientOut !== undefined) throw new UsageError('--recipient-out is for an age identity; a signing key writes its public key with --public-out FILE');
  if (!opts.signing && opts.publicOut !== undefined) throw new UsageError('--public-out is for a signing key (--signing); an age identity writes its recipient with --recipient-out FILE');
  for (const [flag, path] of [['--public-out', opts.publicOut], ['--recipient-out', opts.recipientOut]] as const) {
    if (path !== undefined && resolve(path) === resolve(opts.out)) throw new UsageError(`--out and ${flag} are the same file (${opts.out})`);
  }
  if (opts.signing) return signingKeygen(opts.out, opts.publicOut);
  const [idFile, recipientFile] = await createAll([
    { path: opts.out, mode: 0o600, what: 'an identity' },
    ...(opts.recipientOut !== undefined ? [{ path: opts.recipientOut, mode: 0o644, what: 'a recipient file' }] : []),
  ]);
  const recipient = await fillAll([idFile, recipientFile], async () => {
    const { identity, recipient } = generateX25519Identity();
    await idFile.fh.writeFile(formatIdentityFile(identity, recipient, new Date()));
    await idFile.fh.sync();
    if (recipientFile) await recipientFile.fh.writeFile(`${recipient}\n`);
    return recipient;
  });
  process.stderr.write(`Public key (recipient): ${recipient}\nKeep ${opts.out} offline; backups need only the recipient.\n`);
  out(recipient);
  return 0;
}

/** A signing key (0600) and, if asked, its public key: all or nothing (see createAll). */
async function signingKeygen(keyPath: string, publicPath: string | undefined): Promise<number> {
  const [keyFile, publicFile] = await createAll([
    { path: keyPath, mode: 0o600, what: 'a signing key' },
    ...(publicPath !== undefined ? [{ path: publicPath, mode: 0o644, what: 'a public key' }] : []),
  ]);
  const publicKey = await fillAll([keyFile, publicFile], async () => {
    const { privatePem, publicPem, publicKey } = generateSigningKeyPair();
    await keyFile.fh.writeFile(privatePem);
    await keyFile.fh.sync();
    if (publicFile) await publicFile.fh.writeFile(publicPem);
    return publicKey;
  });
  process.stderr.write(
    `Signing public key ${publicKey.fingerprint}${publicPath !== undefined ? ` written to ${publicPath}` : ''}; its one-line form (for signing.publicKeys) is on stdout.\n` +
      `Only the backup job holds ${keyPath} (signing.keyFile); readers need only the public key.\n`,
  );
  out(publicKey.spki);
  return 0;
}

/** A file this run created (exclusively), and how to take it back with the directories created for it. */
interface Created {
  fh: FileHandle;
  undo(): Promise<void>;
}

/**
 * All or nothing: every file is created exclusively (and its directories) before any is written, so a refusal
 * (an existing file, a directory that cannot be made) leaves nothing behind, not even an identity.
 */
async function createAll(specs: Array<{ path: string; mode: number; what: string }>): Promise<Created[]> {
  const made: Created[] = [];
  try {
    for (const s of specs) made.push(await createOne(s.path, s.mode, s.what));
    return made;
  } catch (err) {
    for (const c of made.reverse()) await c.undo();
    throw err;
  }
}

/** Writes the created files with `fill`, then closes them; when anything fails, every one is taken back. */
async function fillAll<T>(files: Array<Created | undefined>, fill: () => Promise<T>): Promise<T> {
  const all = files.filter((f): f is Created => f !== undefined);
  try {
    const result = await fill();
    for (const f of all) await f.fh.close();
    return result;
  } catch (err) {
    for (const f of all.reverse()) await f.undo();
    throw err;
  }
}

async function createOne(path: string, mode: number, what: string): Promise<Created> {
  const leaf = dirname(resolve(path));
  const first = await mkdir(leaf, { recursive: true });
  // The directories this created, deepest first; each is removed only while empty.
  const removeDirs = async () => {
    if (!first) return;
    for (let d = leaf; ; d = dirname(d)) {
      await rmdir(d).catch(() => undefined);
      if (d === first || dirname(d) === d) break;
    }
  };
  let fh: FileHandle;
  try {
    fh = await open(path, 'wx', mode);
  } catch (err) {
    await removeDirs();
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`${path} already exists; refusing to overwrite ${what}`);
    throw err;
  }
  return {
    fh,
    undo: async () => {
      await fh.close().catch(() => undefined);
      await unlink(path).catch(() => undefined);
      await removeDirs();
    },
  };
}
