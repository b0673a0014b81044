/**
 * Streaming age (age-encryption.org/v1) encryption on node:crypto, byte-compatible
 * with the reference age CLI. X25519 recipients/identities and scrypt passphrases.
 */
export { AgeError } from './errors.js';
export type { Identity } from './keys.js';
export {
  formatIdentityFile,
  generateX25519Identity,
  parseIdentity,
  parseIdentityFile,
  parseRecipient,
  recipientOf,
} from './keys.js';
export { createEncryptStream, createPassphraseEncryptStream } from './encrypt.js';
export { createDecryptStream } from './decrypt.js';
