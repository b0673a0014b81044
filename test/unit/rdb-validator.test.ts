import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { RdbFormatError, RdbValidator, type RdbSummary } from '../../src/sources/redis/rdb.js';
import { Crc64, crc64 } from '../../src/sources/redis/rdb-crc64.js';
import { lzfDecompress } from '../../src/sources/redis/rdb-lzf.js';

// A tiny RDB writer for hand-made files (layouts as in Redis' rdb.c).
const len = (n: number): Buffer => {
  if (n < 64) return Buffer.from([n]);
  if (n < 16384) return Buffer.from([0x40 | (n >> 8), n & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = 0x80;
  b.writeUInt32BE(n, 1);
  return b;
};
const str = (s: string | Buffer): Buffer => {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  return Buffer.concat([len(b.length), b]);
};
const int8 = (v: number) => Buffer.from([0xc0, v & 0xff]);
const ms = (t: number) => {
  const b = Buffer.alloc(9);
  b[0] = 0xfc;
  b.writeBigInt64LE(BigInt(t), 1);
  return b;
};

function rdb(body: Buffer[], opts: { version?: number; checksum?: 'ok' | 'zero' | 'bad' } = {}): Buffer {
  const v = opts.version ?? 10;
  const head = Buffer.from(`REDIS${String(v).padStart(4, '0')}`);
  const content = Buffer.concat([head, ...body, Buffer.from([0xff])]);
  if (v < 5) return content;
  let sum = new Crc64().update(content).digestBytes();
  if (opts.checksum === 'zero') sum = Buffer.alloc(8);
  if (opts.checksum === 'bad') sum[0] ^= 1;
  return Buffer.concat([content, sum]);
}

/** A file with one of each structure the validator has to walk. */
function sample(now: number): Buffer {
  const bigValue = Buffer.alloc(200_000, 'z');
  const stream3 = Buffer.concat([
    Buffer.from([21]), str('events'),
    len(1), str(Buffer.alloc(16, 1)), str(Buffer.alloc(40, 2)), // 1 listpack: node key + listpack
    len(3), len(5), len(0), // length, last id
    len(1), len(0), len(0), len(0), len(3), // first id, max deleted id, entries added
    len(1), // 1 group
    str('risk'), len(5), len(0), len(2), // name, last id, entries read
    len(1), Buffer.alloc(16, 3), Buffer.alloc(8, 4), len(1), // PEL: id, delivery time, count
    len(1), str('worker'), Buffer.alloc(8, 5), Buffer.alloc(8, 6), len(1), Buffer.alloc(16, 3), // consumer
  ]);
  return rdb([
    Buffer.from([0xfa]), str('redis-ver'), str('7.2.4'),
    Buffer.from([0xfa]), str('redis-bits'), int8(64),
    Buffer.from([0xfe]), len(0),
    Buffer.from([0xfb]), len(7), len(2),
    ms(now + 3_600_000), Buffer.from([0]), str('kline:600519.SH:1h'), str('[[1,2,3]]'),
    ms(now - 1000), Buffer.from([0]), str('quote:gone'), int8(5),
    Buffer.from([0]), str('blob'), str(bigValue),
    Buffer.from([0x10]), str('hash:lp'), str(Buffer.alloc(30, 7)),
    Buffer.from([0x12]), str('list:q2'), len(2), len(2), str(Buffer.alloc(20, 8)), len(1), str('plain-node'),
    Buffer.from([0x05]), str('zset:2'), len(2), str('a'), Buffer.alloc(8), str('b'), Buffer.alloc(8),
    stream3,
    Buffer.from([0xfe]), len(3),
    Buffer.from([0xfb]), len(1), len(0),
    Buffer.from([0xf8]), len(1234), Buffer.from([0x03]), str('zset:1'), len(1), str('m'), Buffer.from([3]), Buffer.from('1.5'),
  ]);
}

async function validate(chunks: Buffer[], opts: { expiredBefore?: number } = {}): Promise<RdbSummary> {
  const v = new RdbValidator(opts);
  const seen: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    v,
    new Writable({
      write(c: Buffer, _e, cb) {
        seen.push(c);
        cb();
      },
    }),
  );
  expect(Buffer.concat(seen).equals(Buffer.concat(chunks))).toBe(true);
  return v.summary();
}

function split(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

describe('CRC-64/Jones', () => {
  it('has the check value Redis tests for', () => {
    expect(crc64(Buffer.from('123456789')).toString(16)).toBe('e9c6d914c4b8d9ca');
    expect(crc64(Buffer.alloc(0))).toBe(0n);
  });
  it('gives the same result however the input is split', () => {
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 31 + 7) & 0xff));
    const whole = crc64(data);
    for (const cut of [1, 3, 7, 8, 9, 500, 999]) {
      expect(new Crc64().update(data.subarray(0, cut)).update(data.subarray(cut)).digest()).toBe(whole);
    }
  });
});

describe('LZF', () => {
  it('decodes literal runs and back references, and rejects bad input', () => {
    // "abcabcabcabc": literal "abc", then a back reference of length 9 at distance 3.
    const enc = Buffer.from([0x02, 0x61, 0x62, 0x63, (7 << 5) | 0, 9 - 2 - 7, 2]);
    expect(lzfDecompress(enc, 12)?.toString()).toBe('abcabcabcabc');
    expect(lzfDecompress(enc, 13)).toBeUndefined();
    expect(lzfDecompress(Buffer.from([0x20, 0x05]), 3)).toBeUndefined();
  });
});

describe('RdbValidator', () => {
  const now = 1_800_000_000_000;
  const file = sample(now);

  it('walks every structure and counts keys, expires and expired keys per database', async () => {
    const s = await validate([file], { expiredBefore: now });
    expect(s.rdbVersion).toBe(10);
    expect(s.redisVersion).toBe('7.2.4');
    expect(s.aux['redis-bits']).toBe('64');
    expect(s.checksum).toBe('ok');
    expect(s.size).toBe(file.length);
    expect(s.databases).toEqual([
      { db: 0, keys: 7, expires: 2, expired: 1 },
      { db: 3, keys: 1, expires: 0, expired: 0 },
    ]);
  });

  it('gives the same answer for any chunking, down to one byte at a time', async () => {
    const want = await validate([file]);
    for (const size of [1, 2, 3, 7, 64, 4096, 65_536]) {
      expect(await validate(split(file, size))).toEqual(want);
    }
  });

  it('accepts a file saved with checksums disabled', async () => {
    const s = await validate([rdb([Buffer.from([0xfe]), len(0), Buffer.from([0]), str('k'), str('v')], { checksum: 'zero' })]);
    expect(s.checksum).toBe('disabled');
    expect(s.databases).toEqual([{ db: 0, keys: 1, expires: 0, expired: 0 }]);
  });

  it('reads pre-checksum versions (no trailer)', async () => {
    const s = await validate([rdb([Buffer.from([0xfe]), len(0), Buffer.from([0]), str('k'), str('v')], { version: 4 })]);
    expect(s.rdbVersion).toBe(4);
    expect(s.checksum).toBe('disabled');
  });

  const rejects = async (chunks: Buffer[], re: RegExp) => {
    const err = await validate(chunks).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RdbFormatError);
    expect((err as Error).message).toMatch(re);
  };

  it('rejects a bad magic, an unknown version and an empty input', async () => {
    await rejects([Buffer.from('PK\x03\x04 not an rdb at all')], /bad magic/);
    await rejects([Buffer.from('RED')], /bad magic|truncated/);
    await rejects([Buffer.from('REDIS0099\xff')], /unsupported RDB version 99/);
    await rejects([Buffer.from('REDISxx10\xff')], /bad version field/);
    await rejects([], /empty file/);
  });

  it('rejects a CRC mismatch', async () => {
    await rejects([rdb([Buffer.from([0]), str('k'), str('v')], { checksum: 'bad' })], /CRC64 mismatch/);
    const flipped = Buffer.from(file);
    flipped[Math.floor(flipped.length / 2)] ^= 0x40; // inside the 200 kB value: structure intact
    await rejects(split(flipped, 4096), /CRC64 mismatch/);
  });

  it('rejects truncation anywhere, saying where the file ends', async () => {
    for (const cut of [9, 20, 100, 50_000, file.length - 9, file.length - 1]) {
      await rejects(split(file.subarray(0, cut), 1000), new RegExp(`truncated: the file ends at offset ${cut}`));
    }
  });

  it('rejects data after the checksum, unknown types and RESIZEDB counts that disagree', async () => {
    await rejects([file, Buffer.from('extra')], /unexpected data after the end/);
    await rejects([rdb([Buffer.from([8]), str('k'), str('v')])], /unknown value type 8/);
    await rejects([rdb([Buffer.from([0xfb]), len(2), len(0), Buffer.from([0]), str('k'), str('v')])], /RESIZEDB announces 2 keys but the file holds 1/);
    await rejects([rdb([Buffer.from([0]), Buffer.from([0xc7]), str('v')])], /unknown string encoding 7/);
  });

  it('skips large values without holding them', async () => {
    const big = rdb([Buffer.from([0]), str('k'), str(Buffer.alloc(8 << 20, 1))]);
    const v = new RdbValidator();
    let maxBuffered = 0;
    await pipeline(
      Readable.from(split(big, 65_536)),
      v,
      new Writable({
        write(_c, _e, cb) {
          maxBuffered = Math.max(maxBuffered, v.readableLength + v.writableLength);
          cb();
        },
      }),
    );
    expect(v.summary().databases[0].keys).toBe(1);
    expect(maxBuffered).toBeLessThan(4 << 20);
  });
});
