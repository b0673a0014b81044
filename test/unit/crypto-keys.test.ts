import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  AgeError,
  formatIdentityFile,
  generateX25519Identity,
  parseIdentity,
  parseIdentityFile,
  parseRecipient,
  recipientOf,
} from '../../src/crypto/index.js';

/** A fresh key pair from the reference `age-keygen`, made at run time (no key is committed); undefined without it. */
function ageKeygen(): { identity: string; recipient: string } | undefined {
  try {
    const out = execFileSync('age-keygen', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const identity = /^AGE-SECRET-KEY-1\S+$/m.exec(out)?.[0];
    const recipient = /^# public key: (age1\S+)$/m.exec(out)?.[1];
    return identity && recipient ? { identity, recipient } : undefined;
  } catch {
    return undefined;
  }
}

const FROM_AGE_KEYGEN = ageKeygen();
const { identity: KNOWN_IDENTITY, recipient: KNOWN_RECIPIENT } = FROM_AGE_KEYGEN ?? generateX25519Identity();

function ageError(fn: () => unknown): AgeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AgeError);
    return err as AgeError;
  }
  throw new Error('expected an AgeError');
}

describe('X25519 keys', () => {
  it.skipIf(!FROM_AGE_KEYGEN)(`derives the same recipient as age-keygen${FROM_AGE_KEYGEN ? '' : ' (skipped: age-keygen is not installed)'}`, () => {
    expect(recipientOf(KNOWN_IDENTITY)).toBe(KNOWN_RECIPIENT);
    const id = parseIdentity(KNOWN_IDENTITY);
    expect(id.type).toBe('x25519');
    if (id.type !== 'x25519') return;
    expect(id.secretKey).toHaveLength(32);
    expect(id.recipient).toBe(KNOWN_RECIPIENT);
    expect(parseRecipient(KNOWN_RECIPIENT)).toHaveLength(32);
  });

  it('generates fresh, consistent key pairs', () => {
    const a = generateX25519Identity();
    const b = generateX25519Identity();
    expect(a.identity).toMatch(/^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/);
    expect(a.recipient).toMatch(/^age1[02-9ac-hj-np-z]{58}$/);
    expect(recipientOf(a.identity)).toBe(a.recipient);
    expect(a.identity).not.toBe(b.identity);
    expect(a.recipient).not.toBe(b.recipient);
  });

  it('rejects malformed recipients with BAD_KEY naming a truncated form of the input', () => {
    const bad = KNOWN_RECIPIENT.slice(0, -1) + (KNOWN_RECIPIENT.endsWith('q') ? 'p' : 'q');
    const err = ageError(() => parseRecipient(bad));
    expect(err.code).toBe('BAD_KEY');
    expect(err.message).toContain(bad.slice(0, 16));
    expect(err.message).not.toContain(bad);
    expect(err.message).toMatch(/checksum/);

    expect(ageError(() => parseRecipient(KNOWN_RECIPIENT.toUpperCase())).code).toBe('BAD_KEY');
    expect(ageError(() => parseRecipient('')).code).toBe('BAD_KEY');
    expect(ageError(() => parseRecipient('ssh-ed25519 AAAA')).code).toBe('BAD_KEY');
    // Right checksum, wrong HRP / length.
    expect(ageError(() => parseRecipient('a12uel5l')).code).toBe('BAD_KEY');
  });

  it('never echoes a secret key passed as a recipient', () => {
    const err = ageError(() => parseRecipient(KNOWN_IDENTITY));
    expect(err.code).toBe('BAD_KEY');
    expect(err.message).not.toContain(KNOWN_IDENTITY.slice(16, 24));
    expect(err.message).toMatch(/secret identity/);
  });

  it('rejects malformed identities without echoing the secret', () => {
    const secretPart = KNOWN_IDENTITY.slice('AGE-SECRET-KEY-1'.length);
    const cases = [
      KNOWN_IDENTITY.slice(0, -1) + (KNOWN_IDENTITY.endsWith('A') ? 'C' : 'A'), // bad checksum
      KNOWN_IDENTITY.toLowerCase(), // identities are uppercase
      KNOWN_IDENTITY.slice(0, 20) + KNOWN_IDENTITY.slice(20).toLowerCase(), // mixed case
      KNOWN_IDENTITY.slice(0, -10), // truncated
      KNOWN_IDENTITY + 'QQ', // too long
      KNOWN_IDENTITY.replace('AGE-SECRET-KEY-1', 'AGE-SECRET-KEX-1'),
      KNOWN_IDENTITY.slice(0, 30) + 'B' + KNOWN_IDENTITY.slice(31), // 'B' is not in the bech32 charset
      'AGE-PLUGIN-YUBIKEY-1' + secretPart,
      KNOWN_RECIPIENT,
    ];
    for (const line of cases) {
      const err = ageError(() => parseIdentity(line));
      expect(err.code).toBe('BAD_KEY');
      for (let i = 0; i + 8 <= secretPart.length; i += 4) {
        expect(err.message.toUpperCase()).not.toContain(secretPart.slice(i, i + 8));
      }
      const fileErr = ageError(() => parseIdentityFile(`# comment\n${line}\n`));
      expect(fileErr.code).toBe('BAD_KEY');
      expect(fileErr.message).toMatch(/line 2/);
      expect(fileErr.message.toUpperCase()).not.toContain(secretPart.slice(0, 8));
    }
  });

  it('parses age-keygen identity files', () => {
    const other = generateX25519Identity();
    const text =
      `# created: 2024-01-01T00:00:00Z\n# public key: ${KNOWN_RECIPIENT}\n${KNOWN_IDENTITY}\n` +
      `\n  \r\n# second key\r\n${other.identity}\r\n`;
    const ids = parseIdentityFile(text);
    expect(ids.map((i) => (i.type === 'x25519' ? i.recipient : ''))).toEqual([KNOWN_RECIPIENT, other.recipient]);
    expect(ageError(() => parseIdentityFile('# only comments\n\n')).code).toBe('BAD_KEY');
    expect(ageError(() => parseIdentityFile('')).message).toMatch(/no identities/);
    expect(ageError(() => parseIdentityFile('age-encryption.org/v1\n-> scrypt x 18\n')).message).toMatch(/encrypted/);
  });

  it('formats identity files like age-keygen', () => {
    const { identity, recipient } = generateX25519Identity();
    const text = formatIdentityFile(identity, recipient, new Date('2024-05-06T07:08:09.123Z'));
    expect(text).toBe(`# created: 2024-05-06T07:08:09Z\n# public key: ${recipient}\n${identity}\n`);
    const parsed = parseIdentityFile(text);
    expect(parsed).toHaveLength(1);
    expect(parsed[0].type === 'x25519' && parsed[0].recipient).toBe(recipient);
    expect(ageError(() => formatIdentityFile(identity, KNOWN_RECIPIENT, new Date())).code).toBe('BAD_KEY');
  });
});
