import { open, mkdir, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { formatIdentityFile, generateX25519Identity } from '../crypto/index.js';
import { generateSigningKeyPair } from '../crypto/ed25519.js';
import { UsageError } from '../util/errors.js';
import { out } from './common.js';

/** Writes a new age identity (mode 0600, never overwriting) and prints its recipient. */
export async function keygenCommand(opts: { out: string; recipientOut?: string; signing?: boolean; publicOut?: string }): Promise<number> {
  // `--signing`: a manifest signing key (Ed25519, PKCS#8 PEM) and its public key (PEM).
  if (opts.signing && opts.recipientOut !== undefined) throw new UsageError('--recipient-out is for an age identity; a signing key writes its public key with --public-out FILE');
  if (!opts.signing && opts.publicOut !== undefined) throw new UsageError('--public-out is for a signing key (--signing); an age identity writes its recipient with --recipient-out FILE');
  if (opts.publicOut !== undefined && resolve(opts.publicOut) === resolve(opts.out)) {
    throw new UsageError(`--out and --public-out are the same file (${opts.out})`);
  }
  if (opts.signing) return signingKeygen(opts.out, opts.publicOut);
  const { identity, recipient } = generateX25519Identity();
  await mkdir(dirname(opts.out), { recursive: true });
  let fh;
  try {
    fh = await open(opts.out, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`${opts.out} already exists; refusing to overwrite an identity`);
    throw err;
  }
  try {
    await fh.writeFile(formatIdentityFile(identity, recipient, new Date()));
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (opts.recipientOut) {
    const rf = await open(opts.recipientOut, 'wx', 0o644).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'EEXIST' ? new UsageError(`${opts.recipientOut} already exists; refusing to overwrite`) : err;
    });
    await rf.writeFile(`${recipient}\n`);
    await rf.close();
  }
  process.stderr.write(`Public key (recipient): ${recipient}\nKeep ${opts.out} offline; backups need only the recipient.\n`);
  out(recipient);
  return 0;
}

/**
 * A signing key (0600) and, if asked, its public key: all or nothing. Both files are created exclusively before
 * either is written; when anything fails (an existing file included), the files and directories this run created
 * are removed, so a refusal leaves nothing behind.
 */
async function signingKeygen(keyPath: string, publicPath: string | undefined): Promise<number> {
  const made: { files: string[]; dirs: Array<{ first: string; leaf: string }> } = { files: [], dirs: [] };
  const handles: FileHandle[] = [];
  const create = async (path: string, mode: number, what: string): Promise<FileHandle> => {
    const leaf = dirname(resolve(path));
    const first = await mkdir(leaf, { recursive: true });
    if (first) made.dirs.push({ first, leaf });
    try {
      const fh = await open(path, 'wx', mode);
      made.files.push(path);
      handles.push(fh);
      return fh;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`${path} already exists; refusing to overwrite ${what}`);
      throw err;
    }
  };
  try {
    const keyFile = await create(keyPath, 0o600, 'a signing key');
    const publicFile = publicPath !== undefined ? await create(publicPath, 0o644, 'a public key') : undefined;
    const { privatePem, publicPem, publicKey } = generateSigningKeyPair();
    await keyFile.writeFile(privatePem);
    await keyFile.sync();
    if (publicFile) await publicFile.writeFile(publicPem);
    for (const fh of handles.splice(0)) await fh.close();
    process.stderr.write(
      `Signing public key ${publicKey.fingerprint}${publicPath !== undefined ? ` written to ${publicPath}` : ''}; its one-line form (for signing.publicKeys) is on stdout.\n` +
        `Only the backup job holds ${keyPath} (signing.keyFile); readers need only the public key.\n`,
    );
    out(publicKey.spki);
    return 0;
  } catch (err) {
    for (const fh of handles) await fh.close().catch(() => undefined);
    for (const f of made.files.reverse()) await unlink(f).catch(() => undefined);
    for (const { first, leaf } of made.dirs.reverse()) {
      for (let d = leaf; ; d = dirname(d)) {
        await rmdir(d).catch(() => undefined);
        if (d === first || dirname(d) === d) break;
      }
    }
    throw err;
  }
}
