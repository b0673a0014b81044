/**
 * Manifest signatures (docs/format.md section 3a). The age recipients are public and written in every manifest, so
 * anyone who can write to the store could add a well-formed Completed backup of their own; a signature by a key
 * only the backup job holds tells the readers' manifests from such a one.
 *
 *   backups/<id>/manifest.json.sig   the raw 64-byte Ed25519 signature of the exact bytes of manifest.json
 *
 * Order: the signature is written first, the manifest last. The manifest stays the one mark of a finished backup,
 * so a crash between the two leaves a signature without a manifest, which is an incomplete backup like any other;
 * a signed-looking manifest of an unfinished backup cannot exist.
 */
import { Readable } from 'node:stream';
import { signBytes, verifyingKey, ED25519_SIGNATURE_BYTES, type SigningKeyPair, type SigningPublicKey } from '../crypto/ed25519.js';
import { MANIFEST_SIGNATURE_NAME, manifestKey, manifestSignatureKey } from './layout.js';
import type { Manifest } from './manifest.js';
import { serializeManifest } from './manifest-json.js';
import { readObject } from '../store/text.js';
import type { ObjectStore } from '../store/types.js';
import { OperationError } from '../util/errors.js';

/** How a manifest fails its signature check. */
export type SignatureProblem = 'Unsigned' | 'BadSignature';

/** A manifest refused because of its signature: `status` says how, the message names the backup and why. */
export class ManifestSignatureError extends OperationError {
  constructor(
    readonly backupId: string,
    readonly status: SignatureProblem,
    message: string,
  ) {
    super(message);
    this.name = 'ManifestSignatureError';
  }
}

/** Options of the catalog's readers: with public keys, only manifests signed by one of them are trusted. */
export interface ManifestTrust {
  /** The readers' trusted keys (config `signing.publicKeys` / `publicKeysFile`); undefined or empty: no check. */
  publicKeys?: readonly SigningPublicKey[];
}

/**
 * Checks the detached signature of backup `id`'s manifest, whose exact stored bytes are `bytes`, against the
 * trusted keys. Returns the key that verified it; throws ManifestSignatureError naming the backup and the reason.
 */
export async function checkManifestSignature(store: ObjectStore, id: string, bytes: Buffer, publicKeys: readonly SigningPublicKey[]): Promise<SigningPublicKey> {
  const sigKey = manifestSignatureKey(id);
  const head = await store.head(sigKey);
  if (!head) {
    throw new ManifestSignatureError(
      id,
      'Unsigned',
      `manifest ${id} is not signed (no ${MANIFEST_SIGNATURE_NAME}) and signing.publicKeys requires a signature: not trusted (written by someone else with write access to the store, or before signing was configured)`,
    );
  }
  if (head.size !== ED25519_SIGNATURE_BYTES) {
    throw new ManifestSignatureError(id, 'BadSignature', `manifest ${id}: ${MANIFEST_SIGNATURE_NAME} is ${head.size} bytes, not a ${ED25519_SIGNATURE_BYTES}-byte Ed25519 signature: not trusted`);
  }
  const signature = await readObject(store, sigKey);
  const key = verifyingKey(bytes, signature, publicKeys);
  if (!key) {
    throw new ManifestSignatureError(
      id,
      'BadSignature',
      `manifest ${id}: its signature does not verify with ${publicKeys.length === 1 ? 'the configured signing public key' : `any of the ${publicKeys.length} configured signing public keys`} (${publicKeys.map((k) => k.fingerprint).join(', ')}): the manifest was changed after it was signed, or signed by another key; not trusted`,
    );
  }
  return key;
}

/**
 * Writes a finished backup's manifest, last: with a signing key, its signature first (both retained under S3
 * Object Lock like the artifacts). Returns the bytes written.
 */
export async function writeManifest(store: ObjectStore, manifest: Manifest, signing?: SigningKeyPair): Promise<Buffer> {
  const bytes = Buffer.from(serializeManifest(manifest), 'utf8');
  if (signing) {
    await store.put(manifestSignatureKey(manifest.id), Readable.from([signBytes(bytes, signing.privateKey)]), { retain: true });
  }
  await store.put(manifestKey(manifest.id), Readable.from([bytes]), { retain: true });
  return bytes;
}
