import { readFile } from 'node:fs/promises';
import { parseIdentityFile, parseRecipient, type Identity } from '../crypto/index.js';
import type { Config } from './schema.js';
import { UsageError, errorMessage } from '../util/errors.js';

/** Public keys for writing backups: `encryption.recipients` plus `encryption.recipientsFile` (age -R format). */
export async function loadRecipients(cfg: Config): Promise<string[]> {
  const out = [...cfg.encryption.recipients];
  // Parsed now, before any backup starts: one that cannot be encrypted to (a low-order point) is bad configuration.
  out.forEach((r, i) => {
    try {
      parseRecipient(r);
    } catch (err) {
      throw new UsageError(`encryption.recipients[${i}]: ${errorMessage(err)}`);
    }
  });
  if (cfg.encryption.recipientsFile) {
    let text: string;
    try {
      text = await readFile(cfg.encryption.recipientsFile, 'utf8');
    } catch (err) {
      throw new UsageError(`encryption.recipientsFile ${cfg.encryption.recipientsFile}: ${errorMessage(err)}`);
    }
    for (const line of text.split('\n').map((l) => l.trim())) {
      if (!line || line.startsWith('#')) continue;
      try {
        parseRecipient(line);
      } catch (err) {
        throw new UsageError(`encryption.recipientsFile ${cfg.encryption.recipientsFile}: ${errorMessage(err)}`);
      }
      out.push(line);
    }
  }
  if (out.length === 0) throw new UsageError('encryption: no recipients configured');
  return [...new Set(out)];
}

/** The private identity for reading backups: `--identity FILE`, else `encryption.identityFile`. */
export async function loadIdentities(cfg: Config, override?: string): Promise<Identity[]> {
  const file = override ?? cfg.encryption.identityFile;
  if (!file) {
    throw new UsageError('this command needs the private key: set encryption.identityFile or pass --identity FILE');
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`identity file ${file}: ${errorMessage(err)}`);
  }
  try {
    return parseIdentityFile(text);
  } catch (err) {
    throw new UsageError(`identity file ${file}: ${errorMessage(err)}`);
  }
}
