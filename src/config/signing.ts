import { readFile } from 'node:fs/promises';
import { parseSigningPrivateKey, parseSigningPublicKeys, type SigningKeyPair, type SigningPublicKey } from '../crypto/ed25519.js';
import type { Config } from './schema.js';
import { UsageError, errorMessage } from '../util/errors.js';

/**
 * The backup side's manifest signing key (`signing.keyFile`), or undefined when signing is not configured. When
 * the readers' public keys are configured too, the key must be one of them: otherwise every backup this run writes
 * would be refused as badly signed. Errors are usage errors and never contain key material.
 */
export async function loadSigningKey(cfg: Config): Promise<SigningKeyPair | undefined> {
  const file = cfg.signing?.keyFile;
  if (!file) return undefined;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`signing.keyFile ${file}: ${errorMessage(err)}`);
  }
  let pair: SigningKeyPair;
  try {
    pair = parseSigningPrivateKey(text);
  } catch (err) {
    throw new UsageError(`signing.keyFile ${file}: ${errorMessage(err)}`);
  }
  const trusted = await loadSigningPublicKeys(cfg);
  if (trusted && !trusted.some((k) => k.spki === pair.publicKey.spki)) {
    throw new UsageError(
      `signing.keyFile ${file}: its public key (${pair.publicKey.fingerprint}) is not among signing.publicKeys / publicKeysFile (${trusted.map((k) => k.fingerprint).join(', ')}): readers would refuse every backup it signs`,
    );
  }
  return pair;
}

/**
 * The public keys manifests must be signed with (`signing.publicKeys` and `signing.publicKeysFile`), or undefined
 * when neither is set (manifests are then not checked). A file that holds no key is an error, not "no checking".
 */
export async function loadSigningPublicKeys(cfg: Config): Promise<SigningPublicKey[] | undefined> {
  const s = cfg.signing;
  if (!s || (s.publicKeys === undefined && s.publicKeysFile === undefined)) return undefined;
  const keys: SigningPublicKey[] = [];
  (s.publicKeys ?? []).forEach((text, i) => {
    try {
      keys.push(...nonEmpty(parseSigningPublicKeys(text)));
    } catch (err) {
      throw new UsageError(`signing.publicKeys[${i}]: ${errorMessage(err)}`);
    }
  });
  if (s.publicKeysFile) {
    let text: string;
    try {
      text = await readFile(s.publicKeysFile, 'utf8');
    } catch (err) {
      throw new UsageError(`signing.publicKeysFile ${s.publicKeysFile}: ${errorMessage(err)}`);
    }
    try {
      keys.push(...nonEmpty(parseSigningPublicKeys(text)));
    } catch (err) {
      throw new UsageError(`signing.publicKeysFile ${s.publicKeysFile}: ${errorMessage(err)}`);
    }
  }
  return keys.filter((k, i) => keys.findIndex((o) => o.spki === k.spki) === i);
}

function nonEmpty(keys: SigningPublicKey[]): SigningPublicKey[] {
  if (keys.length === 0) throw new Error('no public key in it');
  return keys;
}
