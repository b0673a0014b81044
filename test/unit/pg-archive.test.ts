import { readFile, writeFile } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchiveIndexer, OFFSET_NO_DATA, OFFSET_NOT_SET, OFFSET_SET, parseToc, patchDataOffsets } from '../../src/sources/postgres/archive.js';
import { join } from 'node:path';
import { tempDir } from '../support/tmp.js';

// A small writer of custom archives (layout as in pg_dump's pg_backup_archiver.c / pg_backup_custom.c).
const INT = 4;
const OFF = 8;
const int = (v: number) => {
  const b = Buffer.alloc(1 + INT);
  b[0] = v < 0 ? 1 : 0;
  let a = Math.abs(v);
  for (let i = 0; i < INT; i++) {
    b[1 + i] = a & 0xff;
    a = Math.floor(a / 256);
  }
  return b;
};
const str = (s: string | null) => (s === null ? int(-1) : Buffer.concat([int(Buffer.byteLength(s)), Buffer.from(s)]));
const offset = (flag: number, at = 0) => {
  const b = Buffer.alloc(1 + OFF);
  b[0] = flag;
  b.writeBigUInt64LE(BigInt(at), 1);
  return b;
};

interface Entry {
  id: number;
  desc: string;
  /** Table data chunks; undefined: the entry has no data. */
  chunks?: string[];
  /** Large objects (oid → chunks): a BLOBS block. */
  blobs?: Array<[number, string[]]>;
}

function header(minor: number): Buffer {
  const parts: Buffer[] = [Buffer.from('PGDMP'), Buffer.from([1, minor, 0, INT, OFF, 1])];
  parts.push(minor >= 15 ? Buffer.from([0]) : int(0)); // compression
  for (let i = 0; i < 7; i++) parts.push(int(i));
  parts.push(str('gushen'), str('15.20'), str('15.20'));
  return Buffer.concat(parts);
}

function tocEntry(e: Entry, minor: number, off: Buffer): Buffer {
  const hasData = e.chunks !== undefined || e.blobs !== undefined;
  const parts: Buffer[] = [int(e.id), int(hasData ? 1 : 0), str('1259'), str(String(16000 + e.id)), str(`t${e.id}`), str(e.desc), int(2)];
  parts.push(str(`CREATE TABLE t${e.id} (v text);`), str(`DROP TABLE t${e.id};`), str(hasData ? `COPY t${e.id} (v) FROM stdin;\n` : null));
  parts.push(str('public'), str(''));
  if (minor >= 14) parts.push(str('heap'));
  if (minor >= 16) parts.push(int(114));
  parts.push(str('gushen'), str('false'), str('1'), str('2'), str(null), off);
  return Buffer.concat(parts);
}

function block(e: Entry): Buffer {
  if (e.blobs) {
    const parts = [Buffer.from([3]), int(e.id)];
    for (const [oid, chunks] of e.blobs) {
      parts.push(int(oid));
      for (const c of chunks) parts.push(int(Buffer.byteLength(c)), Buffer.from(c));
      parts.push(int(0));
    }
    parts.push(int(0));
    return Buffer.concat(parts);
  }
  const parts = [Buffer.from([1]), int(e.id)];
  for (const c of e.chunks!) parts.push(int(Buffer.byteLength(c)), Buffer.from(c));
  parts.push(int(0));
  return Buffer.concat(parts);
}

/** The archive as pg_dump writes it to a pipe (offsets not set) and as it writes it to a file (offsets set). */
function archive(entries: Entry[], minor = 14): { piped: Buffer; seekable: Buffer } {
  const hasData = (e: Entry) => e.chunks !== undefined || e.blobs !== undefined;
  const build = (offsets: (e: Entry) => Buffer) => Buffer.concat([header(minor), int(entries.length), ...entries.map((e) => tocEntry(e, minor, offsets(e)))]);
  const head = build((e) => offset(hasData(e) ? OFFSET_NOT_SET : OFFSET_NO_DATA));
  const blocks = entries.filter(hasData).map(block);
  const at = new Map<number, number>();
  let p = head.length;
  entries.filter(hasData).forEach((e, i) => {
    at.set(e.id, p);
    p += blocks[i].length;
  });
  const seekHead = build((e) => (hasData(e) ? offset(OFFSET_SET, at.get(e.id)) : offset(OFFSET_NO_DATA)));
  return { piped: Buffer.concat([head, ...blocks]), seekable: Buffer.concat([seekHead, ...blocks]) };
}

const ENTRIES: Entry[] = [
  { id: 1, desc: 'ENCODING' },
  { id: 2, desc: 'TABLE' },
  { id: 7, desc: 'TABLE DATA', chunks: ['1\tfirst row\n', '2\tsecond\\trow\n', 'x'.repeat(3000) + '\n'] },
  { id: 8, desc: 'TABLE DATA', chunks: [] },
  { id: 9, desc: 'BLOBS', blobs: [[16401, ['large ', 'object']], [16402, ['y']]] },
  { id: 12, desc: 'TABLE DATA', chunks: Array.from({ length: 200 }, (_, i) => `${i}\trow ${i}\n`) },
];

/** Feeds `buf` through an indexer in pieces of `piece` bytes; returns the indexer and what came out. */
async function index(buf: Buffer, piece: number): Promise<{ ix: ArchiveIndexer; out: Buffer }> {
  const ix = new ArchiveIndexer();
  const chunks: Buffer[] = [];
  const pieces = function* () {
    for (let i = 0; i < buf.length; i += piece) yield buf.subarray(i, i + piece);
  };
  await pipeline(
    Readable.from(pieces()),
    ix,
    new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(c);
        cb();
      },
    }),
  );
  return { ix, out: Buffer.concat(chunks) };
}

let dir: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  dir = await tempDir('gushen-dr-pg-archive-');
});
afterAll(() => dir.cleanup());

async function patched(buf: Buffer, ix: ArchiveIndexer, name: string) {
  const path = join(dir.path, name);
  await writeFile(path, buf);
  const result = await patchDataOffsets(path, ix);
  return { result, bytes: await readFile(path) };
}

describe('custom archive TOC', () => {
  it.each([12, 14, 15, 16])('reads header and TOC of version 1.%i, with the position of every data offset', (minor) => {
    const { piped } = archive(ENTRIES, minor);
    const toc = parseToc(piped);
    expect(toc.version).toBe(`1.${minor}.0`);
    expect(toc.entries.map((e) => [e.dumpId, e.offsetFlag])).toEqual([
      [1, OFFSET_NO_DATA],
      [2, OFFSET_NO_DATA],
      [7, OFFSET_NOT_SET],
      [8, OFFSET_NOT_SET],
      [9, OFFSET_NOT_SET],
      [12, OFFSET_NOT_SET],
    ]);
    for (const e of toc.entries) expect(piped[e.offsetFieldAt]).toBe(e.offsetFlag);
    expect(piped[toc.end]).toBe(1); // the first data block's type byte
  });

  it('names what is wrong with something that is not an archive it knows', () => {
    expect(() => parseToc(Buffer.from('-- PostgreSQL database dump\n'))).toThrow(/no PGDMP magic/);
    const future = archive(ENTRIES).piped;
    future[6] = 17;
    expect(() => parseToc(future)).toThrow(/archive version 1\.17\.0 is outside the known 1\.12–1\.16/);
  });
});

describe('ArchiveIndexer + patchDataOffsets', () => {
  it.each([1, 3, 7, 64, 1 << 20])('makes a piped archive byte for byte the one pg_dump writes to a file (pieces of %i bytes)', async (piece) => {
    const { piped, seekable } = archive(ENTRIES);
    const { ix, out } = await index(piped, piece);
    expect(out.equals(piped)).toBe(true);
    expect(ix.failure).toBeUndefined();
    const { result, bytes } = await patched(piped, ix, `piece-${piece}.dump`);
    expect(result).toEqual({ patched: 4 });
    expect(bytes.equals(seekable)).toBe(true);
  });

  it('works for the 1.16 layout (pg_dump 17 and 18)', async () => {
    const { piped, seekable } = archive(ENTRIES, 16);
    const { ix } = await index(piped, 5);
    const { bytes } = await patched(piped, ix, 'v16.dump');
    expect(bytes.equals(seekable)).toBe(true);
  });

  it('leaves an archive that already has its offsets as it is', async () => {
    const { seekable } = archive(ENTRIES);
    const { ix } = await index(seekable, 4096);
    const { result, bytes } = await patched(seekable, ix, 'seekable.dump');
    expect(result.patched).toBe(0);
    expect(result.skipped).toMatch(/already has its data offsets/);
    expect(bytes.equals(seekable)).toBe(true);
  });

  const broken: Array<[string, (b: Buffer) => Buffer, RegExp]> = [
    ['a truncated archive', (b) => b.subarray(0, b.length - 3), /ends inside a data block/],
    ['an archive cut inside its TOC', (b) => b.subarray(0, 60), /ends inside its table of contents/],
    ['an unknown block type', (b) => {
      const c = Buffer.from(b);
      c[parseToc(c).end] = 9;
      return c;
    }, /unknown data block type 9/],
    ['an unknown archive version', (b) => {
      const c = Buffer.from(b);
      c[6] = 40;
      return c;
    }, /archive version 1\.40\.0/],
  ];
  it.each(broken)('passes %s through unchanged and patches nothing, saying why', async (_what, damage, why) => {
    const bad = damage(archive(ENTRIES).piped);
    const { ix, out } = await index(bad, 100);
    expect(out.equals(bad)).toBe(true);
    expect(ix.failure).toMatch(why);
    const { result, bytes } = await patched(bad, ix, 'broken.dump');
    expect(result).toEqual({ patched: 0, skipped: ix.failure });
    expect(bytes.equals(bad)).toBe(true);
  });

  it('patches nothing when an entry that has data has no block', async () => {
    const { piped } = archive(ENTRIES);
    const toc = parseToc(piped);
    // Drop the last block (entry 12): the archive still parses, but one offset cannot be filled in.
    const lastBlock = block(ENTRIES[ENTRIES.length - 1]);
    const short = piped.subarray(0, piped.length - lastBlock.length);
    expect(short.length).toBeGreaterThan(toc.end);
    const { ix } = await index(short, 512);
    const { result, bytes } = await patched(short, ix, 'missing.dump');
    expect(result).toEqual({ patched: 0, skipped: 'no data block for TOC entry 12 (TABLE DATA)' });
    expect(bytes.equals(short)).toBe(true);
  });
});
