/**
 * BIP-173 bech32 (not bech32m). age uses it for `age1…` recipients (lowercase)
 * and `AGE-SECRET-KEY-1…` identities (uppercase). The 90-character limit of
 * BIP-173 is not enforced (age keys are well below it anyway).
 */
const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GENERATOR = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
const CHARSET_REV: Int8Array = (() => {
  const rev = new Int8Array(128).fill(-1);
  for (let i = 0; i < CHARSET.length; i++) rev[CHARSET.charCodeAt(i)] = i;
  return rev;
})();

/** Thrown on malformed bech32. The message never contains the input string. */
export class Bech32Error extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Bech32Error';
  }
}

function polymod(values: ArrayLike<number>, chk = 1): number {
  for (let i = 0; i < values.length; i++) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ values[i];
    for (let j = 0; j < 5; j++) if ((top >>> j) & 1) chk ^= GENERATOR[j];
  }
  return chk;
}

function hrpExpand(hrp: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < hrp.length; i++) out.push(hrp.charCodeAt(i) >> 5);
  out.push(0);
  for (let i = 0; i < hrp.length; i++) out.push(hrp.charCodeAt(i) & 31);
  return out;
}

function convertBits(data: ArrayLike<number>, from: number, to: number, pad: boolean): number[] {
  let acc = 0;
  let bits = 0;
  const out: number[] = [];
  const maxv = (1 << to) - 1;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < 0 || v >> from !== 0) throw new Bech32Error('invalid data value');
    acc = ((acc << from) | v) & 0xfffffff;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push((acc >> bits) & maxv);
    }
  }
  if (pad) {
    if (bits > 0) out.push((acc << (to - bits)) & maxv);
  } else if (bits >= from || ((acc << (to - bits)) & maxv) !== 0) {
    throw new Bech32Error('invalid padding in data part');
  }
  return out;
}

function checkHrp(hrp: string): void {
  if (hrp.length < 1) throw new Bech32Error('empty human-readable part');
  for (let i = 0; i < hrp.length; i++) {
    const c = hrp.charCodeAt(i);
    if (c < 33 || c > 126) throw new Bech32Error('invalid character in human-readable part');
  }
}

/** Encodes `data` under `hrp`. An uppercase HRP gives an all-uppercase result. */
export function bech32Encode(hrp: string, data: Uint8Array): string {
  checkHrp(hrp);
  const lowerHrp = hrp.toLowerCase();
  const upper = hrp !== lowerHrp;
  if (upper && hrp.toUpperCase() !== hrp) throw new Bech32Error('mixed-case human-readable part');
  const values = convertBits(data, 8, 5, true);
  const chk = polymod([0, 0, 0, 0, 0, 0], polymod(values, polymod(hrpExpand(lowerHrp)))) ^ 1;
  let s = lowerHrp + '1';
  for (const v of values) s += CHARSET[v];
  for (let i = 0; i < 6; i++) s += CHARSET[(chk >>> (5 * (5 - i))) & 31];
  return upper ? s.toUpperCase() : s;
}

/**
 * Decodes a bech32 string. The returned HRP keeps the case of the input
 * (callers compare it exactly, like age does: `age` vs `AGE-SECRET-KEY-`).
 */
export function bech32Decode(s: string): { hrp: string; data: Buffer } {
  const lower = s.toLowerCase();
  if (lower !== s && s.toUpperCase() !== s) throw new Bech32Error('mixed case');
  const pos = s.lastIndexOf('1');
  if (pos < 1 || pos + 7 > s.length) throw new Bech32Error('missing or misplaced separator "1"');
  const hrp = s.slice(0, pos);
  checkHrp(hrp);
  const values: number[] = [];
  for (let i = pos + 1; i < lower.length; i++) {
    const c = lower.charCodeAt(i);
    const v = c < 128 ? CHARSET_REV[c] : -1;
    if (v < 0) throw new Bech32Error('invalid character in data part');
    values.push(v);
  }
  if (polymod(values, polymod(hrpExpand(hrp.toLowerCase()))) !== 1) throw new Bech32Error('invalid checksum');
  const data = convertBits(values.slice(0, values.length - 6), 5, 8, false);
  return { hrp, data: Buffer.from(data) };
}
