import { open, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { formatIdentityFile, generateX25519Identity } from '../crypto/index.js';
import { UsageError } from '../util/errors.js';
import { out } from './common.js';

/** Writes a new age identity (mode 0600, never overwriting) and prints its recipient. */
export async function keygenCommand(opts: { out: string; recipientOut?: string }): Promise<number> {
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
