/** age key encodings: `age1…` recipients, `AGE-SECRET-KEY-1…` identities, age-keygen identity files. */
import { Bech32Error, bech32Decode, bech32Encode } from './bech32.js';
import { AgeError } from './errors.js';
import { generateRawKeyPair, isLowOrderPoint, publicFromSecret } from './x25519.js';

export type Identity =
  | { type: 'x25519'; secretKey: Buffer; recipient: string }
  | { type: 'scrypt'; passphrase: string; maxWorkFactor?: number };

const RECIPIENT_HRP = 'age';
const IDENTITY_HRP = 'AGE-SECRET-KEY-';

/** A short, safe rendering of a user-supplied recipient string for error messages. */
function describeRecipientInput(s: string): string {
  const shown = s.length > 16 ? `${s.slice(0, 16)}…` : s;
  return `${JSON.stringify(shown)} (${s.length} chars)`;
}

export function encodeRecipient(publicKey: Uint8Array): string {
  return bech32Encode(RECIPIENT_HRP, publicKey);
}

export function encodeIdentity(secretKey: Uint8Array): string {
  return bech32Encode(IDENTITY_HRP, secretKey);
}

export function parseRecipient(s: string): Buffer {
  if (typeof s !== 'string') throw new AgeError('BAD_KEY', 'invalid age recipient: expected a string');
  if (/^\s*AGE-(SECRET|PLUGIN)-/i.test(s)) {
    // Never echo what looks like a secret key.
    throw new AgeError(
      'BAD_KEY',
      'invalid age recipient: this is a secret identity (AGE-SECRET-KEY-…), not a public recipient; ' +
        'use its "age1…" public key (age-keygen -y prints it)',
    );
  }
  const what = describeRecipientInput(s);
  let decoded: { hrp: string; data: Buffer };
  try {
    decoded = bech32Decode(s);
  } catch (err) {
    const reason = err instanceof Bech32Error ? err.message : 'malformed';
    throw new AgeError('BAD_KEY', `invalid age recipient ${what}: ${reason}; expected an X25519 recipient like "age1…" (lowercase)`);
  }
  if (decoded.hrp !== RECIPIENT_HRP) {
    const hint = decoded.hrp.startsWith('age1') ? 'plugin and post-quantum recipients are not supported' : 'expected the "age1" prefix in lowercase';
    throw new AgeError('BAD_KEY', `invalid age recipient ${what}: ${hint}`);
  }
  if (decoded.data.length !== 32) {
    throw new AgeError('BAD_KEY', `invalid age recipient ${what}: expected a 32-byte X25519 key, got ${decoded.data.length} bytes`);
  }
  if (isLowOrderPoint(decoded.data)) {
    throw new AgeError('BAD_KEY', `invalid age recipient ${what}: a low-order X25519 point (such as all zeros), not anyone's public key; nothing can be encrypted to it`);
  }
  return decoded.data;
}

export function parseIdentity(line: string): Identity {
  if (typeof line !== 'string') throw new AgeError('BAD_KEY', 'invalid age identity: expected a string');
  const s = line.trim();
  // Messages below never include the input: it is (or may be) a secret key.
  if (s.startsWith('AGE-PLUGIN-')) throw new AgeError('BAD_KEY', 'unsupported age identity: plugin identities (AGE-PLUGIN-…) are not supported');
  if (s.startsWith('AGE-SECRET-KEY-PQ-')) {
    throw new AgeError('BAD_KEY', 'unsupported age identity: post-quantum identities (AGE-SECRET-KEY-PQ-…) are not supported');
  }
  if (s.startsWith('age1')) {
    throw new AgeError('BAD_KEY', 'invalid age identity: this is a public recipient (age1…), not a secret identity (AGE-SECRET-KEY-1…)');
  }
  if (!s.startsWith('AGE-SECRET-KEY-1')) {
    const hint = s.toUpperCase().startsWith('AGE-SECRET-KEY-1') ? ' (it must be uppercase)' : '';
    throw new AgeError('BAD_KEY', `invalid age identity: expected an X25519 identity starting with "AGE-SECRET-KEY-1"${hint}`);
  }
  let decoded: { hrp: string; data: Buffer };
  try {
    decoded = bech32Decode(s);
  } catch (err) {
    const reason = err instanceof Bech32Error ? err.message : 'malformed';
    throw new AgeError('BAD_KEY', `invalid age identity (AGE-SECRET-KEY-1…, value not shown): ${reason}`);
  }
  if (decoded.hrp !== IDENTITY_HRP || decoded.data.length !== 32) {
    decoded.data.fill(0);
    throw new AgeError('BAD_KEY', 'invalid age identity (AGE-SECRET-KEY-1…, value not shown): expected a 32-byte X25519 secret key');
  }
  const secretKey = decoded.data;
  return { type: 'x25519', secretKey, recipient: encodeRecipient(publicFromSecret(secretKey)) };
}

/** Parses an age-keygen style identity file: one identity per line, `#` comments and blank lines ignored. */
export function parseIdentityFile(text: string): Identity[] {
  if (typeof text !== 'string') throw new AgeError('BAD_KEY', 'invalid identity file: expected text');
  if (text.startsWith('age-encryption.org/') || text.startsWith('-----BEGIN AGE ENCRYPTED FILE-----')) {
    throw new AgeError(
      'BAD_KEY',
      'the identity file is itself age-encrypted (passphrase-protected); decrypt it first (age -d) and use the plain identity file',
    );
  }
  const out: Identity[] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    try {
      out.push(parseIdentity(line));
    } catch (err) {
      if (err instanceof AgeError) throw new AgeError('BAD_KEY', `identity file line ${i + 1}: ${err.message}`);
      throw err;
    }
  }
  if (out.length === 0) {
    throw new AgeError('BAD_KEY', 'no identities found in the identity file (expected lines starting with "AGE-SECRET-KEY-1")');
  }
  return out;
}

export function recipientOf(identity: string): string {
  const id = parseIdentity(identity);
  if (id.type !== 'x25519') throw new AgeError('BAD_KEY', 'not an X25519 identity');
  id.secretKey.fill(0);
  return id.recipient;
}

export function generateX25519Identity(): { identity: string; recipient: string } {
  const { secretKey, publicKey } = generateRawKeyPair();
  const identity = encodeIdentity(secretKey);
  secretKey.fill(0);
  return { identity, recipient: encodeRecipient(publicKey) };
}

/** The age-keygen file format: created timestamp and public key as comments, then the identity. */
export function formatIdentityFile(identity: string, recipient: string, created: Date): string {
  if (recipientOf(identity) !== recipient) {
    throw new AgeError('BAD_KEY', `the recipient ${describeRecipientInput(recipient)} does not belong to the given identity`);
  }
  if (Number.isNaN(created.getTime())) throw new AgeError('BAD_KEY', 'invalid creation date for the identity file');
  const stamp = created.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return `# created: ${stamp}\n# public key: ${recipient}\n${identity}\n`;
}
