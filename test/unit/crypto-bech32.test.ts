import { describe, expect, it } from 'vitest';
import { Bech32Error, bech32Decode, bech32Encode } from '../../src/crypto/bech32.js';

// BIP-173 test vectors (valid bech32 strings; the data parts are decodable to bytes).
const VALID = [
  'A12UEL5L',
  'a12uel5l',
  'an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs',
  'abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw',
  '11' + 'q'.repeat(82) + 'c8247j',
  'split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w',
  '?1ezyfcl',
];

const INVALID: [string, string][] = [
  ['\x201nwldj5', 'HRP character out of range'],
  ['\x7f1axkwrx', 'HRP character out of range'],
  ['pzry9x0s0muk', 'no separator'],
  ['1pzry9x0s0muk', 'empty HRP'],
  ['x1b4n0q5v', 'invalid data character'],
  ['li1dgmt3', 'too short checksum'],
  ['de1lg7wt\xff', 'invalid character in checksum'],
  ['A1G7SGD8', 'checksum calculated with uppercase HRP'],
  ['10a06t8', 'empty HRP'],
  ['1qzzfhee', 'empty HRP'],
  ['a12UEL5L', 'mixed case'],
  ['A12uEL5L', 'mixed case'],
  ['a1lqfn3a', 'bech32m checksum, not bech32'],
  ['abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxx', 'bad checksum (last char changed)'],
];

describe('bech32 (BIP-173)', () => {
  it.each(VALID)('decodes and re-encodes %s', (s) => {
    const { hrp, data } = bech32Decode(s);
    expect(bech32Encode(hrp, data)).toBe(s);
  });

  it.each(INVALID)('rejects %j (%s)', (s) => {
    expect(() => bech32Decode(s)).toThrow(Bech32Error);
  });

  it('round-trips random payloads in both cases', () => {
    for (let n = 0; n <= 40; n++) {
      const data = Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + n * 11) & 0xff));
      const lower = bech32Encode('age', data);
      expect(lower).toBe(lower.toLowerCase());
      expect(bech32Decode(lower)).toEqual({ hrp: 'age', data });
      const upper = bech32Encode('AGE-SECRET-KEY-', data);
      expect(upper).toBe(upper.toUpperCase());
      expect(bech32Decode(upper)).toEqual({ hrp: 'AGE-SECRET-KEY-', data });
    }
  });

  it('detects every single-character substitution in an age recipient', () => {
    const s = 'age1yv24zfjx9a4gagq7eqghwgqdfkm4jyqx2w92u9u8z7qcy37jgqaq4cctf0';
    expect(bech32Decode(s).data).toHaveLength(32);
    for (let i = 4; i < s.length; i++) {
      const c = s[i] === 'q' ? 'p' : 'q';
      expect(() => bech32Decode(s.slice(0, i) + c + s.slice(i + 1)), `position ${i}`).toThrow(/checksum|padding/);
    }
  });

  it('rejects non-zero padding bits and incomplete bytes even with a valid checksum', () => {
    // Independent reference checksum over arbitrary 5-bit words (BIP-173 section "Checksum").
    const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
    const GEN = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
    const polymod = (values: number[]): number => {
      let chk = 1;
      for (const v of values) {
        const b = chk >>> 25;
        chk = ((chk & 0x1ffffff) << 5) ^ v;
        for (let i = 0; i < 5; i++) if ((b >>> i) & 1) chk ^= GEN[i];
      }
      return chk;
    };
    const encodeWords = (hrp: string, words: number[]): string => {
      const exp = [...hrp].map((c) => c.charCodeAt(0) >> 5).concat([0], [...hrp].map((c) => c.charCodeAt(0) & 31));
      const mod = polymod([...exp, ...words, 0, 0, 0, 0, 0, 0]) ^ 1;
      const chk = [0, 1, 2, 3, 4, 5].map((i) => (mod >>> (5 * (5 - i))) & 31);
      return hrp + '1' + [...words, ...chk].map((w) => CHARSET[w]).join('');
    };
    // 0xff encodes as words [31, 28]: 10 bits with 2 zero padding bits.
    expect(encodeWords('x', [31, 28])).toBe(bech32Encode('x', Buffer.from([0xff])));
    expect(bech32Decode(encodeWords('x', [31, 28])).data).toEqual(Buffer.from([0xff]));
    expect(() => bech32Decode(encodeWords('x', [31, 29]))).toThrow(/padding/);
    expect(() => bech32Decode(encodeWords('x', [31]))).toThrow(/padding/);
    expect(() => bech32Decode(encodeWords('x', [31, 28, 0]))).toThrow(/padding/);
  });
});
