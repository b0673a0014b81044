/**
 * pg_dump's custom archive format ("PGDMP"), as far as a parallel restore needs it (pg_backup_archiver.c,
 * pg_backup_custom.c; archive versions 1.12–1.16, i.e. pg_dump 9.0 to 18):
 *
 *   header  "PGDMP", version (major, minor, revision bytes), intSize, offSize, format (1 = custom),
 *           compression (an int before 1.15, an algorithm byte from 1.15), creation time (7 ints),
 *           database name, then server and pg_dump versions (strings)
 *   TOC     entry count, then per entry: dumpId, hadDumper, tableoid, oid, tag, desc, section, defn, dropStmt,
 *           copyStmt, namespace, tablespace, tableam (≥ 1.14), relkind (an int, ≥ 1.16), owner, withOids,
 *           dependency ids (strings, ended by a NULL string), and the data offset: a flag byte (1 not set,
 *           2 set, 3 no data) followed by offSize bytes, least significant first
 *   data    blocks to the end of the file: a type byte (1 table data, 3 large objects) and the dumpId, then
 *           length-prefixed chunks ended by a zero length (large objects: an oid before each object's chunks,
 *           the list ended by a zero oid)
 *   An int is a sign byte and intSize bytes, least significant first; a string is an int length (-1: NULL)
 *   and that many bytes.
 *
 * pg_dump writing to a pipe cannot go back to fill in the data offsets, so in our artifacts every data entry
 * says "not set". pg_restore --jobs then makes each worker read through the blocks in front of the one it
 * wants, and on this project's benchmark a 2-job restore of such a file took as long as a 1-job one.
 * ArchiveIndexer watches the plaintext pass on its way to the staged file and notes where each block starts;
 * patchDataOffsets() then writes those offsets into the staged copy's TOC, which is what pg_dump itself does
 * at the end of a dump into a seekable file. The stored artifact is never changed.
 */
import { open } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';

const MAGIC = 'PGDMP';
const FORMAT_CUSTOM = 1;
const BLK_DATA = 1;
const BLK_BLOBS = 3;
export const OFFSET_NOT_SET = 1;
export const OFFSET_SET = 2;
export const OFFSET_NO_DATA = 3;

const version = (maj: number, min: number, rev = 0) => (maj * 256 + min) * 256 + rev;
const V1_10 = version(1, 10);
const V1_12 = version(1, 12);
const V1_14 = version(1, 14);
const V1_15 = version(1, 15);
const V1_16 = version(1, 16);
/** The newest archive version whose TOC layout is known here; a newer one is left as it is. */
const NEWEST = version(1, 16, 255);

/** A TOC larger than this is not indexed (the restore still works, only without offsets). */
const MAX_TOC_BYTES = 64 * 1024 * 1024;

export interface TocEntry {
  dumpId: number;
  desc: string | null;
  /** OFFSET_NOT_SET, OFFSET_SET or OFFSET_NO_DATA. */
  offsetFlag: number;
  /** Position of the flag byte in the file. */
  offsetFieldAt: number;
}

export interface ArchiveToc {
  version: string;
  intSize: number;
  offSize: number;
  entries: TocEntry[];
  /** Where the TOC starts (after the header). */
  start: number;
  /** Where the data blocks start. */
  end: number;
}

export class ArchiveFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveFormatError';
  }
}

class NeedMore extends Error {}

/** Reads the header and TOC from the start of an archive; throws NeedMore when `buf` ends first. */
export function parseToc(buf: Buffer): ArchiveToc {
  let p = 0;
  const need = (n: number) => {
    if (p + n > buf.length) throw new NeedMore();
  };
  const byte = () => {
    need(1);
    return buf[p++];
  };
  if (buf.length < MAGIC.length) throw new NeedMore();
  if (buf.toString('latin1', 0, MAGIC.length) !== MAGIC) throw new ArchiveFormatError('not a pg_dump custom archive (no PGDMP magic)');
  p = MAGIC.length;
  const [vmaj, vmin, vrev] = [byte(), byte(), byte()];
  const v = version(vmaj, vmin, vrev);
  if (v < V1_12 || v > NEWEST) throw new ArchiveFormatError(`archive version ${vmaj}.${vmin}.${vrev} is outside the known 1.12–1.16`);
  const intSize = byte();
  const offSize = byte();
  if (intSize < 1 || intSize > 8 || offSize < 1 || offSize > 8) throw new ArchiveFormatError(`unexpected integer/offset sizes ${intSize}/${offSize}`);
  if (byte() !== FORMAT_CUSTOM) throw new ArchiveFormatError('not a custom-format archive');
  const int = () => {
    need(1 + intSize);
    const negative = buf[p] !== 0;
    let value = 0;
    for (let i = 0; i < intSize; i++) value += buf[p + 1 + i] * 2 ** (8 * i);
    p += 1 + intSize;
    return negative ? -value : value;
  };
  const str = (): string | null => {
    const len = int();
    if (len < 0) return null;
    need(len);
    const s = buf.toString('utf8', p, p + len);
    p += len;
    return s;
  };
  if (v >= V1_15) byte();
  else int(); // compression: algorithm byte, or gzip level
  for (let i = 0; i < 7; i++) int(); // creation time
  str(); // database name
  if (v >= V1_10) {
    str(); // server version
    str(); // pg_dump version
  }
  const start = p;
  const count = int();
  if (count < 0) throw new ArchiveFormatError(`negative TOC entry count ${count}`);
  const entries: TocEntry[] = [];
  for (let i = 0; i < count; i++) {
    const dumpId = int();
    if (dumpId <= 0) throw new ArchiveFormatError(`TOC entry ${i} has dump id ${dumpId}`);
    int(); // hadDumper
    str(); // tableoid
    str(); // oid
    str(); // tag
    const desc = str();
    int(); // section
    str(); // defn
    str(); // dropStmt
    str(); // copyStmt
    str(); // namespace
    str(); // tablespace
    if (v >= V1_14) str(); // tableam
    if (v >= V1_16) int(); // relkind
    str(); // owner
    str(); // withOids
    while (str() !== null); // dependencies
    const offsetFieldAt = p;
    const offsetFlag = byte();
    if (offsetFlag < OFFSET_NOT_SET || offsetFlag > OFFSET_NO_DATA) {
      throw new ArchiveFormatError(`TOC entry ${dumpId} has data offset flag ${offsetFlag}`);
    }
    need(offSize);
    p += offSize;
    entries.push({ dumpId, desc, offsetFlag, offsetFieldAt });
  }
  return { version: `${vmaj}.${vmin}.${vrev}`, intSize, offSize, entries, start, end: p };
}

const enum S {
  BlockType,
  DumpId,
  ChunkLength,
  Skip,
  BlobOid,
}

/**
 * A pass-through stream that indexes a custom archive as it flows by: the TOC, and where each data block
 * starts. It never fails the stream it watches: an archive it cannot index only means no offsets are added
 * (`failure` says why).
 */
export class ArchiveIndexer extends Transform {
  toc: ArchiveToc | undefined;
  /** dumpId → position of the block's type byte. */
  readonly blocks = new Map<number, number>();
  failure: string | undefined;
  private head: Buffer[] = [];
  private headBytes = 0;
  private nextTry = 0;
  private pos = 0;
  private state = S.BlockType;
  private inBlobs = false;
  private blockStart = 0;
  /** The bytes of an int split across chunks. */
  private readonly partial: number[] = [];
  private skip = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.failure === undefined) {
      try {
        this.observe(chunk);
      } catch (err) {
        this.giveUp(err instanceof ArchiveFormatError ? err.message : String(err));
      }
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.failure === undefined) {
      if (!this.toc) this.giveUp('the archive ends inside its table of contents');
      else if (this.state !== S.BlockType) this.giveUp('the archive ends inside a data block');
    }
    cb();
  }

  private giveUp(why: string): void {
    this.failure = why;
    this.head = [];
    this.blocks.clear();
  }

  private observe(chunk: Buffer): void {
    if (!this.toc) {
      this.head.push(chunk);
      this.headBytes += chunk.length;
      // Parse again only once the buffered head has doubled, so a large TOC costs linear time.
      if (this.headBytes < this.nextTry) return;
      const buf = this.head.length === 1 ? this.head[0] : Buffer.concat(this.head);
      this.head = [buf];
      try {
        this.toc = parseToc(buf);
      } catch (err) {
        if (!(err instanceof NeedMore)) throw err;
        if (this.headBytes > MAX_TOC_BYTES) throw new ArchiveFormatError(`the table of contents is larger than ${MAX_TOC_BYTES} bytes`);
        this.nextTry = this.headBytes * 2;
        return;
      }
      this.head = [];
      this.pos = this.toc.end;
      this.scan(buf, this.toc.end);
      return;
    }
    this.scan(chunk, 0);
  }

  /** Walks the data blocks; locals rather than fields in the loop, which runs a few times per row of the dump. */
  private scan(buf: Buffer, from: number): void {
    const intSize = this.toc!.intSize;
    const n = buf.length;
    const base = this.pos - from; // the file position of buf[0]
    let i = from;
    let state = this.state;
    let skip = this.skip;
    let inBlobs = this.inBlobs;
    let partial = this.partial.length;
    while (i < n) {
      if (state === S.Skip) {
        const step = skip < n - i ? skip : n - i;
        skip -= step;
        i += step;
        if (skip === 0) state = S.ChunkLength;
        continue;
      }
      if (state === S.BlockType) {
        inBlobs = this.startBlock(buf[i], base + i);
        state = S.DumpId;
        i++;
        continue;
      }
      // An int: the sign byte, then intSize bytes, least significant first; read in one go when all here.
      let value = 0;
      if (partial === 0 && i + intSize < n) {
        for (let k = intSize; k >= 1; k--) value = value * 256 + buf[i + k];
        if (buf[i] !== 0) value = -value;
        i += 1 + intSize;
      } else {
        const whole = this.splitInt(buf[i++], intSize);
        partial = this.partial.length;
        if (whole === undefined) continue;
        value = whole;
      }
      if (state === S.ChunkLength) {
        if (value > 0) {
          skip = value;
          state = S.Skip;
        } else if (value === 0) {
          state = inBlobs ? S.BlobOid : S.BlockType;
        } else {
          throw new ArchiveFormatError(`negative chunk length ${value}`);
        }
      } else if (state === S.DumpId) {
        this.recordBlock(value);
        state = inBlobs ? S.BlobOid : S.ChunkLength;
      } else {
        state = value === 0 ? S.BlockType : S.ChunkLength; // S.BlobOid: 0 ends the large objects
      }
    }
    this.state = state;
    this.skip = skip;
    this.inBlobs = inBlobs;
    this.pos = base + n;
  }

  // The rare steps live outside scan(), so that its loop keeps to what it does for every row.
  private startBlock(type: number, at: number): boolean {
    if (type !== BLK_DATA && type !== BLK_BLOBS) throw new ArchiveFormatError(`unknown data block type ${type} at byte ${at}`);
    this.blockStart = at;
    return type === BLK_BLOBS;
  }

  private recordBlock(dumpId: number): void {
    if (dumpId <= 0) throw new ArchiveFormatError(`data block with dump id ${dumpId}`);
    if (this.blocks.has(dumpId)) throw new ArchiveFormatError(`two data blocks for dump id ${dumpId}`);
    this.blocks.set(dumpId, this.blockStart);
  }

  /** One byte of an int that spans chunks; the int once its last byte is in. */
  private splitInt(b: number, intSize: number): number | undefined {
    const p = this.partial;
    p.push(b);
    if (p.length <= intSize) return undefined;
    let value = 0;
    for (let k = intSize; k >= 1; k--) value = value * 256 + p[k];
    if (p[0] !== 0) value = -value;
    p.length = 0;
    return value;
  }
}

export interface PatchResult {
  /** TOC entries whose offset was filled in. */
  patched: number;
  /** Why nothing was patched (the file is left as it was). */
  skipped?: string;
}

/**
 * Writes the data offsets found by `indexer` into the TOC of the archive at `path` (the file the indexed
 * bytes were written to). Entries that already have an offset are left alone; if any entry that needs one
 * has no block, nothing is written (pg_restore finds every block by reading, as before).
 */
export async function patchDataOffsets(path: string, indexer: ArchiveIndexer): Promise<PatchResult> {
  if (indexer.failure !== undefined) return { patched: 0, skipped: indexer.failure };
  const toc = indexer.toc;
  if (!toc) return { patched: 0, skipped: 'no table of contents was read' };
  const todo = toc.entries.filter((e) => e.offsetFlag === OFFSET_NOT_SET);
  if (todo.length === 0) return { patched: 0, skipped: 'the archive already has its data offsets' };
  const missing = todo.find((e) => !indexer.blocks.has(e.dumpId));
  if (missing) return { patched: 0, skipped: `no data block for TOC entry ${missing.dumpId} (${missing.desc ?? '?'})` };
  const fh = await open(path, 'r+');
  try {
    for (const e of todo) {
      const field = Buffer.alloc(1 + toc.offSize);
      field[0] = OFFSET_SET;
      let at = indexer.blocks.get(e.dumpId)!;
      for (let i = 0; i < toc.offSize; i++) {
        field[1 + i] = at % 256;
        at = Math.floor(at / 256);
      }
      const { bytesWritten } = await fh.write(field, 0, field.length, e.offsetFieldAt);
      if (bytesWritten !== field.length) throw new Error(`short write patching the TOC of ${path}`);
    }
  } finally {
    await fh.close();
  }
  return { patched: todo.length };
}
