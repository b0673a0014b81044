/**
 * The RDB stream parser (the format of dump.rdb and of a full resynchronisation):
 *
 *   "REDIS" + 4 ASCII digits (the RDB version)
 *   { opcode ... }                      AUX, SELECTDB, RESIZEDB, EXPIRETIME[_MS], IDLE, FREQ, MODULE_AUX,
 *                                       FUNCTION2, SLOT_INFO, or a value type followed by key and value
 *   0xFF                                EOF opcode
 *   8 bytes little-endian               CRC-64/Jones of everything before (RDB ≥ 5; 0 = checksums disabled)
 *
 * It walks the whole structure as the bytes flow past: opcodes, lengths, strings (LZF-compressed ones
 * decoded only where a small AUX value is read), and every value type skipped by its layout. It never keeps a
 * value in memory (a string payload is skipped by its length, even across chunks), and counts keys and
 * expires per database along with the RESIZEDB hints. Layouts follow Redis' rdb.c (rdbLoadObject /
 * rdbLoadRioWithLoadingCtx) for RDB versions 1–12 (Redis ≤ 7.4). The checks over the whole file (CRC trailer,
 * RESIZEDB hints, trailing bytes) and the summary are the validator's (rdb-validator.ts).
 */
import { lzfDecompress } from './rdb-lzf.js';

/** The newest RDB version this parser understands (Redis 7.4 writes 12, 7.2 writes 11, 7.0 writes 10). */
export const MAX_RDB_VERSION = 12;

export class RdbFormatError extends Error {
  constructor(message: string, readonly offset?: number) {
    super(message);
    this.name = 'RdbFormatError';
  }
}

// Opcodes (rdb.h).
const OP_SLOT_INFO = 244;
const OP_FUNCTION2 = 245;
const OP_FUNCTION_PRE_GA = 246;
const OP_MODULE_AUX = 247;
const OP_IDLE = 248;
const OP_FREQ = 249;
const OP_AUX = 250;
const OP_RESIZEDB = 251;
const OP_EXPIRETIME_MS = 252;
const OP_EXPIRETIME = 253;
const OP_SELECTDB = 254;
const OP_EOF = 255;

// Value types (rdb.h).
const T_STRING = 0;
const T_LIST = 1;
const T_SET = 2;
const T_ZSET = 3;
const T_HASH = 4;
const T_ZSET_2 = 5;
const T_MODULE_PRE_GA = 6;
const T_MODULE_2 = 7;
const T_HASH_ZIPMAP = 9;
const T_LIST_ZIPLIST = 10;
const T_SET_INTSET = 11;
const T_ZSET_ZIPLIST = 12;
const T_HASH_ZIPLIST = 13;
const T_LIST_QUICKLIST = 14;
const T_STREAM_LISTPACKS = 15;
const T_HASH_LISTPACK = 16;
const T_ZSET_LISTPACK = 17;
const T_LIST_QUICKLIST_2 = 18;
const T_STREAM_LISTPACKS_2 = 19;
const T_SET_LISTPACK = 20;
const T_STREAM_LISTPACKS_3 = 21;
const T_HASH_METADATA_PRE_GA = 22;
const T_HASH_LISTPACK_EX_PRE_GA = 23;
const T_HASH_METADATA = 24;
const T_HASH_LISTPACK_EX = 25;

const TYPE_NAMES: Record<number, string> = {
  0: 'string', 1: 'list', 2: 'set', 3: 'zset', 4: 'hash', 5: 'zset-v2', 6: 'module-pre-ga', 7: 'module-v2',
  9: 'hash-zipmap', 10: 'list-ziplist', 11: 'set-intset', 12: 'zset-ziplist', 13: 'hash-ziplist',
  14: 'quicklist', 15: 'stream', 16: 'hash-listpack', 17: 'zset-listpack', 18: 'quicklist-v2', 19: 'stream-v2',
  20: 'set-listpack', 21: 'stream-v3', 22: 'hash-hashtable-md-pre-ga', 23: 'hash-listpack-md-pre-ga',
  24: 'hash-hashtable-md', 25: 'hash-listpack-md',
};

const VALUE_WHAT: Record<number, string> = Object.fromEntries(Object.entries(TYPE_NAMES).map(([k, v]) => [k, `a value of type ${v}`]));

/** Module value sub-opcodes. */
const MOD_EOF = 0;
const MOD_SINT = 1;
const MOD_UINT = 2;
const MOD_FLOAT = 3;
const MOD_DOUBLE = 4;
const MOD_STRING = 5;

const NEED = -1;
const DONE = 0;
const SKIPPING = 1;
const EMPTY = Buffer.alloc(0);
const MAX_AUX_KEY = 256;
const MAX_AUX_VALUE = 4096;

type Gen<T = void> = Generator<void, T, void>;
/** Keys and expires counted in one database, and what its RESIZEDB opcodes announced. */
export interface DbCounter {
  db: number;
  keys: number;
  expires: number;
  expired: number;
  resizeKeys?: number;
  resizeExpires?: number;
}

/**
 * Incremental RDB parser. Bytes are fed as they arrive; the parse itself is a generator that suspends
 * whenever it needs bytes that have not arrived yet. Only the few bytes of a primitive that straddles
 * two chunks are ever copied; string payloads are skipped by length.
 */
export class RdbParser {
  private buf: Buffer = EMPTY;
  private pos = 0;
  /** Absolute file offset of buf[0]. */
  private base = 0;
  private ended = false;
  /** Bytes still to skip that have not arrived yet. */
  private skipLeft = 0;
  /** Set by tryLen: the length byte had the "encoded" form (11xxxxxx). */
  private enc = false;
  private readonly gen: Gen;
  private finished = false;
  private trailing = 0;

  version = 0;
  eofOffset = -1;
  checksumBytes: Buffer | undefined;
  readonly aux: Record<string, string> = {};
  functions = 0;
  private readonly dbs = new Map<number, DbCounter>();
  private cur: DbCounter;
  /** For error messages: what is being read and where the current record began. */
  private what = 'the header';
  private recordStart = 0;

  constructor(private readonly expiredBefore?: number) {
    this.cur = this.db(0);
    this.gen = this.run();
  }

  get done(): boolean {
    return this.finished;
  }

  get databases(): DbCounter[] {
    return [...this.dbs.values()].filter((d) => d.keys > 0 || (d.resizeKeys ?? 0) > 0).sort((a, b) => a.db - b.db);
  }

  feed(chunk: Buffer): void {
    if (this.finished) {
      this.trailing += chunk.length;
      return;
    }
    if (this.skipLeft > 0) {
      const n = Math.min(this.skipLeft, chunk.length);
      this.skipLeft -= n;
      this.base += n;
      if (n === chunk.length) {
        if (this.skipLeft === 0) this.step();
        return;
      }
      chunk = chunk.subarray(n);
    }
    if (this.pos >= this.buf.length) {
      this.base += this.buf.length;
      this.buf = chunk;
    } else {
      this.base += this.pos;
      this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk]);
    }
    this.pos = 0;
    this.step();
  }

  end(): void {
    this.ended = true;
    if (!this.finished) this.step();
    if (!this.finished) throw this.truncated();
  }

  /** Bytes that followed the end of the RDB. */
  get trailingBytes(): number {
    return this.trailing;
  }

  private step(): void {
    const r = this.gen.next();
    if (r.done) {
      this.finished = true;
      this.trailing += this.buf.length - this.pos;
    }
  }

  private db(n: number): DbCounter {
    let d = this.dbs.get(n);
    if (!d) {
      d = { db: n, keys: 0, expires: 0, expired: 0 };
      this.dbs.set(n, d);
    }
    return d;
  }

  private offset(): number {
    return this.base + this.pos;
  }

  private corrupt(msg: string, at = this.offset()): RdbFormatError {
    return new RdbFormatError(`${msg} at offset ${at} (reading ${this.what}, record at offset ${this.recordStart})`, at);
  }

  private truncated(): RdbFormatError {
    const at = this.base + this.buf.length + this.skipLeft;
    const end = this.base + this.buf.length;
    return new RdbFormatError(
      `truncated: the file ends at offset ${end} while reading ${this.what} (record at offset ${this.recordStart}${this.skipLeft > 0 ? `, ${this.skipLeft} more bytes expected` : ''})`,
      Math.min(at, end),
    );
  }

  // ---- primitives -------------------------------------------------------------------------------

  private *ensure(n: number): Gen {
    while (this.buf.length - this.pos < n) {
      if (this.ended) throw this.truncated();
      yield;
    }
  }

  private *skip(n: number): Gen {
    const avail = this.buf.length - this.pos;
    if (n <= avail) {
      this.pos += n;
      return;
    }
    this.skipLeft = n - avail;
    this.base += this.buf.length;
    this.buf = EMPTY;
    this.pos = 0;
    while (this.skipLeft > 0) {
      if (this.ended) throw this.truncated();
      yield;
    }
  }

  /** A length (rdbLoadLen) if all its bytes are here, else NEED without consuming anything. Sets this.enc. */
  private tryLen(): number {
    const buf = this.buf;
    const p = this.pos;
    if (p >= buf.length) return NEED;
    const b = buf[p];
    switch (b >> 6) {
      case 0:
        this.pos = p + 1;
        this.enc = false;
        return b & 0x3f;
      case 1:
        if (p + 2 > buf.length) return NEED;
        this.pos = p + 2;
        this.enc = false;
        return ((b & 0x3f) << 8) | buf[p + 1];
      case 3:
        this.pos = p + 1;
        this.enc = true;
        return b & 0x3f;
    }
    if (b === 0x80) {
      if (p + 5 > buf.length) return NEED;
      this.pos = p + 5;
      this.enc = false;
      return buf.readUInt32BE(p + 1);
    }
    if (b === 0x81) {
      if (p + 9 > buf.length) return NEED;
      // May exceed 2^53 (e.g. a consumer group's entries_read of -1 is stored as 2^64-1); only ever
      // used for skipping and counting, where a bogus value ends in a "truncated" error.
      const hi = buf.readUInt32BE(p + 1);
      this.pos = p + 9;
      this.enc = false;
      return hi * 0x100000000 + buf.readUInt32BE(p + 5);
    }
    throw this.corrupt(`invalid length encoding 0x${b.toString(16)}`, p);
  }

  private *len(): Gen<number> {
    for (;;) {
      const v = this.tryLen();
      if (v !== NEED) return v;
      if (this.ended) throw this.truncated();
      yield;
    }
  }

  /** A plain (non-encoded) length. */
  private *plainLen(what: string): Gen<number> {
    let n = this.tryLen();
    if (n === NEED) n = yield* this.len();
    if (this.enc) throw this.corrupt(`expected a length for ${what}, found an encoded value`);
    return n;
  }

  /**
   * Skips one string (rdbGenericLoadStringObject). DONE: consumed; NEED: its header has not fully
   * arrived (nothing consumed); SKIPPING: header consumed, the payload is being skipped as it arrives.
   */
  private trySkipString(): number {
    const save = this.pos;
    const n = this.tryLen();
    if (n === NEED) return NEED;
    let payload: number;
    if (this.enc) {
      if (n === 0) payload = 1;
      else if (n === 1) payload = 2;
      else if (n === 2) payload = 4;
      else if (n === 3) {
        const clen = this.tryLen();
        if (clen === NEED) {
          this.pos = save;
          return NEED;
        }
        if (this.enc) throw this.corrupt('invalid LZF compressed length');
        const ulen = this.tryLen();
        if (ulen === NEED) {
          this.pos = save;
          return NEED;
        }
        if (this.enc) throw this.corrupt('invalid LZF uncompressed length');
        if (clen === 0 || ulen === 0) throw this.corrupt('empty LZF string');
        payload = clen;
      } else {
        throw this.corrupt(`unknown string encoding ${n}`, save);
      }
    } else {
      payload = n;
    }
    const avail = this.buf.length - this.pos;
    if (payload <= avail) {
      // A short fixed-size int encoding may not have fully arrived: treat like any other header.
      this.pos += payload;
      return DONE;
    }
    if (this.enc && n <= 2) {
      this.pos = save;
      return NEED;
    }
    this.skipLeft = payload - avail;
    this.base += this.buf.length;
    this.buf = EMPTY;
    this.pos = 0;
    return SKIPPING;
  }

  private *finishString(r: number): Gen {
    while (r === NEED) {
      if (this.ended) throw this.truncated();
      yield;
      r = this.trySkipString();
    }
    while (this.skipLeft > 0) {
      if (this.ended) throw this.truncated();
      yield;
    }
  }

  private *skipString(): Gen {
    const r = this.trySkipString();
    if (r !== DONE) yield* this.finishString(r);
  }

  /** Reads a string up to `max` bytes (decoded); longer strings are skipped and give undefined. */
  private *readString(max: number): Gen<Buffer | undefined> {
    let n = this.tryLen();
    if (n === NEED) n = yield* this.len();
    if (this.enc) {
      if (n <= 2) {
        const size = 1 << n;
        if (this.buf.length - this.pos < size) yield* this.ensure(size);
        const p = this.pos;
        const v = n === 0 ? this.buf.readInt8(p) : n === 1 ? this.buf.readInt16LE(p) : this.buf.readInt32LE(p);
        this.pos += size;
        return Buffer.from(String(v));
      }
      if (n !== 3) throw this.corrupt(`unknown string encoding ${n}`);
      const clen = yield* this.plainLen('an LZF compressed length');
      const ulen = yield* this.plainLen('an LZF uncompressed length');
      if (clen > max || ulen > max) {
        yield* this.skip(clen);
        return undefined;
      }
      if (this.buf.length - this.pos < clen) yield* this.ensure(clen);
      const out = lzfDecompress(this.buf.subarray(this.pos, this.pos + clen), ulen);
      if (!out) throw this.corrupt('invalid LZF data');
      this.pos += clen;
      return out;
    }
    if (n > max) {
      yield* this.skip(n);
      return undefined;
    }
    if (this.buf.length - this.pos < n) yield* this.ensure(n);
    const out = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }

  private *raw(n: number): Gen {
    if (this.buf.length - this.pos >= n) this.pos += n;
    else yield* this.skip(n);
  }

  /** Signed 64-bit little-endian milliseconds (rdbLoadMillisecondTime). */
  private *millis(): Gen<number> {
    if (this.buf.length - this.pos < 8) yield* this.ensure(8);
    const v = this.buf.readInt32LE(this.pos + 4) * 0x100000000 + this.buf.readUInt32LE(this.pos);
    this.pos += 8;
    return v;
  }

  // ---- structure --------------------------------------------------------------------------------

  private *run(): Gen {
    while (this.buf.length - this.pos < 9) {
      if (this.ended) {
        const have = this.buf.subarray(this.pos);
        if (!Buffer.from('REDIS').subarray(0, have.length).equals(have.subarray(0, 5))) {
          throw new RdbFormatError(`not an RDB file: bad magic (starts with 0x${have.subarray(0, 5).toString('hex')}, expected "REDIS")`, 0);
        }
        throw this.truncated();
      }
      yield;
    }
    const head = this.buf.subarray(this.pos, this.pos + 9);
    if (head.toString('latin1', 0, 5) !== 'REDIS') {
      throw new RdbFormatError(`not an RDB file: bad magic (starts with 0x${head.subarray(0, 5).toString('hex')}, expected "REDIS")`, 0);
    }
    const digits = head.toString('latin1', 5, 9);
    if (!/^\d{4}$/.test(digits)) throw new RdbFormatError(`not an RDB file: bad version field "${digits.replace(/[^\x20-\x7e]/g, '?')}"`, 5);
    const version = Number(digits);
    if (version < 1 || version > MAX_RDB_VERSION) {
      throw new RdbFormatError(`unsupported RDB version ${version} (this tool reads versions 1 to ${MAX_RDB_VERSION}, i.e. Redis up to 7.4)`, 5);
    }
    this.version = version;
    this.pos += 9;

    let expireAt = -1;
    const ref = this.expiredBefore;
    for (;;) {
      this.recordStart = this.offset();
      this.what = 'an opcode';
      if (this.pos >= this.buf.length) yield* this.ensure(1);
      const type = this.buf[this.pos++];
      switch (type) {
        case OP_EOF: {
          this.eofOffset = this.offset() - 1;
          if (expireAt !== -1) throw this.corrupt('an expire time not followed by a key');
          if (this.version >= 5) {
            this.what = 'the checksum';
            if (this.buf.length - this.pos < 8) yield* this.ensure(8);
            this.checksumBytes = Buffer.from(this.buf.subarray(this.pos, this.pos + 8));
            this.pos += 8;
          }
          return;
        }
        case OP_SELECTDB: {
          this.what = 'SELECTDB';
          const n = yield* this.plainLen('a database number');
          if (n > 0x7fffffff) throw this.corrupt(`implausible database number ${n}`);
          this.cur = this.db(n);
          continue;
        }
        case OP_RESIZEDB: {
          this.what = 'RESIZEDB';
          const keys = yield* this.plainLen('a RESIZEDB key count');
          const expires = yield* this.plainLen('a RESIZEDB expires count');
          this.cur.resizeKeys = (this.cur.resizeKeys ?? 0) + keys;
          this.cur.resizeExpires = (this.cur.resizeExpires ?? 0) + expires;
          continue;
        }
        case OP_EXPIRETIME_MS:
          this.what = 'an expire time';
          expireAt = yield* this.millis();
          continue;
        case OP_EXPIRETIME: {
          this.what = 'an expire time';
          if (this.buf.length - this.pos < 4) yield* this.ensure(4);
          expireAt = this.buf.readInt32LE(this.pos) * 1000;
          this.pos += 4;
          continue;
        }
        case OP_AUX: {
          this.what = 'an AUX field';
          const k = yield* this.readString(MAX_AUX_KEY);
          const v = yield* this.readString(MAX_AUX_VALUE);
          if (k !== undefined && v !== undefined) {
            const key = k.toString('latin1');
            if (/^[\x20-\x7e]+$/.test(key)) this.aux[key] = v.toString('utf8');
          }
          continue;
        }
        case OP_IDLE:
          this.what = 'an LRU idle time';
          yield* this.plainLen('an idle time');
          continue;
        case OP_FREQ:
          this.what = 'an LFU frequency';
          yield* this.raw(1);
          continue;
        case OP_MODULE_AUX: {
          this.what = 'module AUX data';
          yield* this.plainLen('a module id');
          const whenOp = yield* this.plainLen('a module AUX when-opcode');
          if (whenOp !== MOD_UINT) throw this.corrupt(`bad module AUX when-opcode ${whenOp}`);
          yield* this.plainLen('a module AUX when');
          yield* this.moduleValue();
          continue;
        }
        case OP_FUNCTION2:
          this.what = 'a function library';
          yield* this.skipString();
          this.functions++;
          continue;
        case OP_FUNCTION_PRE_GA:
          throw this.corrupt('pre-release (7.0 RC) function format is not supported');
        case OP_SLOT_INFO:
          this.what = 'SLOT_INFO';
          yield* this.plainLen('a slot id');
          yield* this.plainLen('a slot size');
          yield* this.plainLen('a slot expires size');
          continue;
      }
      // A key: type, key, value.
      this.what = 'a key';
      const r = this.trySkipString();
      if (r !== DONE) yield* this.finishString(r);
      if (type === T_STRING) {
        this.what = 'a string value';
        const r2 = this.trySkipString();
        if (r2 !== DONE) yield* this.finishString(r2);
      } else {
        this.what = VALUE_WHAT[type] ?? `a value of unknown type ${type}`;
        yield* this.value(type);
      }
      const d = this.cur;
      d.keys++;
      if (expireAt !== -1) {
        d.expires++;
        if (ref !== undefined && expireAt < ref) d.expired++;
        expireAt = -1;
      }
    }
  }

  private *strings(count: number): Gen {
    for (let i = 0; i < count; i++) {
      const r = this.trySkipString();
      if (r !== DONE) yield* this.finishString(r);
    }
  }

  private *value(type: number): Gen {
    switch (type) {
      case T_LIST:
      case T_SET:
      case T_LIST_QUICKLIST: {
        const n = yield* this.plainLen('an element count');
        yield* this.strings(n);
        return;
      }
      case T_HASH: {
        const n = yield* this.plainLen('a field count');
        yield* this.strings(2 * n);
        return;
      }
      case T_ZSET: {
        const n = yield* this.plainLen('a member count');
        for (let i = 0; i < n; i++) {
          yield* this.skipString();
          // Score as a string: one length byte; 253/254/255 are NaN/+inf/-inf with no payload.
          if (this.pos >= this.buf.length) yield* this.ensure(1);
          const l = this.buf[this.pos++];
          if (l < 253) yield* this.raw(l);
        }
        return;
      }
      case T_ZSET_2: {
        const n = yield* this.plainLen('a member count');
        for (let i = 0; i < n; i++) {
          const r = this.trySkipString();
          if (r !== DONE) yield* this.finishString(r);
          yield* this.raw(8);
        }
        return;
      }
      case T_MODULE_PRE_GA:
        throw this.corrupt('pre-release (4.0 RC) module value format is not supported');
      case T_MODULE_2:
        yield* this.plainLen('a module id');
        yield* this.moduleValue();
        return;
      case T_HASH_ZIPMAP:
      case T_LIST_ZIPLIST:
      case T_SET_INTSET:
      case T_ZSET_ZIPLIST:
      case T_HASH_ZIPLIST:
      case T_HASH_LISTPACK:
      case T_ZSET_LISTPACK:
      case T_SET_LISTPACK:
      case T_HASH_LISTPACK_EX_PRE_GA:
        yield* this.skipString();
        return;
      case T_HASH_LISTPACK_EX:
        yield* this.raw(8);
        yield* this.skipString();
        return;
      case T_LIST_QUICKLIST_2: {
        const n = yield* this.plainLen('a node count');
        for (let i = 0; i < n; i++) {
          const container = yield* this.plainLen('a quicklist container');
          if (container !== 1 && container !== 2) throw this.corrupt(`bad quicklist container ${container}`);
          yield* this.skipString();
        }
        return;
      }
      case T_HASH_METADATA_PRE_GA:
      case T_HASH_METADATA: {
        if (type === T_HASH_METADATA) yield* this.raw(8);
        const n = yield* this.plainLen('a field count');
        for (let i = 0; i < n; i++) {
          yield* this.plainLen('a field TTL');
          yield* this.strings(2);
        }
        return;
      }
      case T_STREAM_LISTPACKS:
      case T_STREAM_LISTPACKS_2:
      case T_STREAM_LISTPACKS_3:
        yield* this.stream(type);
        return;
      default:
        throw this.corrupt(`unknown value type ${type}`, this.recordStart);
    }
  }

  private *stream(type: number): Gen {
    const listpacks = yield* this.plainLen('a listpack count');
    yield* this.strings(2 * listpacks);
    // length, last id (ms, seq)
    for (let i = 0; i < 3; i++) yield* this.plainLen('stream metadata');
    if (type >= T_STREAM_LISTPACKS_2) {
      // first id, max deleted id, entries added
      for (let i = 0; i < 5; i++) yield* this.plainLen('stream metadata');
    }
    const groups = yield* this.plainLen('a consumer group count');
    for (let g = 0; g < groups; g++) {
      yield* this.skipString();
      yield* this.plainLen('a group id');
      yield* this.plainLen('a group id');
      if (type >= T_STREAM_LISTPACKS_2) yield* this.plainLen('a group offset');
      const pel = yield* this.plainLen('a PEL size');
      for (let i = 0; i < pel; i++) {
        yield* this.raw(16 + 8);
        yield* this.plainLen('a delivery count');
      }
      const consumers = yield* this.plainLen('a consumer count');
      for (let c = 0; c < consumers; c++) {
        yield* this.skipString();
        yield* this.raw(type >= T_STREAM_LISTPACKS_3 ? 16 : 8);
        const cpel = yield* this.plainLen('a consumer PEL size');
        yield* this.raw(16 * cpel);
      }
    }
  }

  /** A module value as annotated by the module API (rdbLoadCheckModuleValue): opcodes until EOF. */
  private *moduleValue(): Gen {
    for (;;) {
      const op = yield* this.plainLen('a module opcode');
      switch (op) {
        case MOD_EOF:
          return;
        case MOD_SINT:
        case MOD_UINT:
          yield* this.plainLen('a module integer');
          break;
        case MOD_FLOAT:
          yield* this.raw(4);
          break;
        case MOD_DOUBLE:
          yield* this.raw(8);
          break;
        case MOD_STRING:
          yield* this.skipString();
          break;
        default:
          throw this.corrupt(`unknown module opcode ${op}`);
      }
    }
  }
}
