/**
 * CRC-64/Jones as Redis computes it for RDB files (src/crc64.c): polynomial 0xad93d23594c935a9,
 * reflected input and output, initial value 0, no final xor. Check value: crc64("123456789") = 0xe9c6d914c4b8d9ca.
 *
 * JavaScript has no fast 64-bit integers, so the register is kept as two 32-bit halves and the
 * table-driven algorithm runs "slicing by 8" (eight 256-entry tables, one lookup per input byte).
 */

/** The reflected polynomial (bit-reversed 0xad93d23594c935a9) as two halves. */
const POLY_HI = 0x95ac9329;
const POLY_LO = 0xac4bc9b5;

const SLICES = 8;
/** TABLE_HI[k * 256 + b], TABLE_LO[k * 256 + b]: table k of the slicing-by-8 scheme. */
const TABLE_HI = new Uint32Array(SLICES * 256);
const TABLE_LO = new Uint32Array(SLICES * 256);

(function buildTables() {
  for (let b = 0; b < 256; b++) {
    let hi = 0;
    let lo = b;
    for (let i = 0; i < 8; i++) {
      const carry = lo & 1;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi = hi >>> 1;
      if (carry) {
        hi = (hi ^ POLY_HI) >>> 0;
        lo = (lo ^ POLY_LO) >>> 0;
      }
    }
    TABLE_HI[b] = hi;
    TABLE_LO[b] = lo;
  }
  for (let k = 1; k < SLICES; k++) {
    for (let b = 0; b < 256; b++) {
      const phi = TABLE_HI[(k - 1) * 256 + b];
      const plo = TABLE_LO[(k - 1) * 256 + b];
      // One more zero byte through the register: crc = T0[crc & 0xff] ^ (crc >>> 8).
      const idx = plo & 0xff;
      TABLE_HI[k * 256 + b] = (TABLE_HI[idx] ^ (phi >>> 8)) >>> 0;
      TABLE_LO[k * 256 + b] = (TABLE_LO[idx] ^ ((plo >>> 8) | ((phi & 0xff) << 24))) >>> 0;
    }
  }
})();

/** A running CRC-64/Jones. */
export class Crc64 {
  private hi = 0;
  private lo = 0;

  update(buf: Uint8Array, start = 0, end = buf.length): this {
    let hi = this.hi;
    let lo = this.lo;
    let i = start;
    const T_HI = TABLE_HI;
    const T_LO = TABLE_LO;
    const fast = end - ((end - i) & 7);
    while (i < fast) {
      const l = (lo ^ (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24))) >>> 0;
      const h = (hi ^ (buf[i + 4] | (buf[i + 5] << 8) | (buf[i + 6] << 16) | (buf[i + 7] << 24))) >>> 0;
      const a0 = 7 * 256 + (l & 0xff);
      const a1 = 6 * 256 + ((l >>> 8) & 0xff);
      const a2 = 5 * 256 + ((l >>> 16) & 0xff);
      const a3 = 4 * 256 + (l >>> 24);
      const a4 = 3 * 256 + (h & 0xff);
      const a5 = 2 * 256 + ((h >>> 8) & 0xff);
      const a6 = 256 + ((h >>> 16) & 0xff);
      const a7 = h >>> 24;
      hi = T_HI[a0] ^ T_HI[a1] ^ T_HI[a2] ^ T_HI[a3] ^ T_HI[a4] ^ T_HI[a5] ^ T_HI[a6] ^ T_HI[a7];
      lo = T_LO[a0] ^ T_LO[a1] ^ T_LO[a2] ^ T_LO[a3] ^ T_LO[a4] ^ T_LO[a5] ^ T_LO[a6] ^ T_LO[a7];
      i += 8;
    }
    while (i < end) {
      const idx = (lo ^ buf[i]) & 0xff;
      lo = (T_LO[idx] ^ ((lo >>> 8) | ((hi & 0xff) << 24))) >>> 0;
      hi = (T_HI[idx] ^ (hi >>> 8)) >>> 0;
      i++;
    }
    this.hi = hi >>> 0;
    this.lo = lo >>> 0;
    return this;
  }

  /** The CRC as a bigint. */
  digest(): bigint {
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }

  /** The CRC as Redis stores it after an RDB file: 8 bytes, little-endian. */
  digestBytes(): Buffer {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(this.lo, 0);
    b.writeUInt32LE(this.hi, 4);
    return b;
  }

  /** Compares with 8 little-endian bytes, without allocating. */
  equalsLE(b: Uint8Array, off = 0): boolean {
    const lo = (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
    const hi = (b[off + 4] | (b[off + 5] << 8) | (b[off + 6] << 16) | (b[off + 7] << 24)) >>> 0;
    return lo === this.lo && hi === this.hi;
  }
}

export function crc64(buf: Uint8Array): bigint {
  return new Crc64().update(buf).digest();
}
