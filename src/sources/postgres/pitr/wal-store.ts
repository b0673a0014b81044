import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDecryptStream, createEncryptStream, type Identity } from '../../../crypto/index.js';
import { WAL_PREFIX, parseWalKey, walClusterInfoKey, walClusterPrefix } from '../../../repository/layout.js';
import type { ObjectInfo, ObjectStore } from '../../../store/types.js';
import { readObjectText, writeObjectText } from '../../../store/text.js';
import { compressionStages, decompressionStages } from '../../../util/compression.js';
import { HashTap } from '../../../util/hash-tap.js';
import { OperationError, errorMessage } from '../../../util/errors.js';
import { parseSegmentName, segmentName, timelineHex } from './wal-names.js';

/** `wal/<sysid>/cluster.json`: what a reader needs to know before it can name segments. Plain JSON, no secrets. */
export interface WalClusterInfo {
  formatVersion: 1;
  systemIdentifier: string;
  walSegmentSize: number;
  serverVersion: string;
  /** When the archiver first stored WAL of this cluster. */
  createdAt: string;
}

export async function readClusterInfo(store: ObjectStore, sysid: string): Promise<WalClusterInfo | undefined> {
  const key = walClusterInfoKey(sysid);
  if (!(await store.head(key))) return undefined;
  const info = JSON.parse(await readObjectText(store, key)) as WalClusterInfo;
  if (info.formatVersion !== 1 || info.systemIdentifier !== sysid || !Number.isInteger(info.walSegmentSize)) {
    throw new OperationError(`${key}: not a cluster description this gushen-dr knows`);
  }
  return info;
}

export async function writeClusterInfo(store: ObjectStore, info: WalClusterInfo): Promise<void> {
  await writeObjectText(store, walClusterInfoKey(info.systemIdentifier), `${JSON.stringify(info, null, 2)}\n`, { retain: true });
}

export interface StoredWal {
  key: string;
  /** Plaintext bytes and SHA-256. */
  size: number;
  sha256: string;
  storedSize: number;
  /** Offset just past the last non-zero byte: for a segment being written, about how far it is filled. */
  filledTo: number;
}

/** Counts the bytes up to the last non-zero one (zero pages pad a segment pg_receivewal is still writing). */
class FillTap extends Transform {
  offset = 0;
  filledTo = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    for (let i = chunk.length - 1; i >= 0; i--) {
      if (chunk[i] !== 0) {
        this.filledTo = this.offset + i + 1;
        break;
      }
    }
    this.offset += chunk.length;
    cb(null, chunk);
  }
}

/**
 * Stores one WAL file: plaintext → SHA-256 → zstd → age → store, streamed (the same stages as every artifact,
 * docs/format.md section 2). The store's put is atomic: readers see the old object or the whole new one.
 */
export async function putWal(
  store: ObjectStore,
  key: string,
  body: Readable,
  opts: { recipients: string[]; level: number; retain: boolean; signal?: AbortSignal },
): Promise<StoredWal> {
  const plain = new HashTap();
  const fill = new FillTap();
  let storedSize = 0;
  const out = new PassThrough();
  out.on('data', (c: Buffer) => (storedSize += c.length)).pause();
  const sink = new PassThrough();
  try {
    await Promise.all([
      pipeline([body, fill, plain, ...compressionStages('zstd', opts.level), createEncryptStream(opts.recipients), sink], { signal: opts.signal }),
      store.put(key, sink, { signal: opts.signal, retain: opts.retain }).then((r) => (storedSize = r.size)),
    ]);
  } catch (err) {
    body.destroy();
    sink.destroy();
    throw new OperationError(`storing ${key}: ${errorMessage(err)}`, { cause: err });
  }
  const d = plain.digest();
  return { key, size: d.size, sha256: d.sha256, storedSize, filledTo: fill.filledTo };
}

/** A stored WAL file's plaintext: get → age-decrypt (authenticated) → zstd-decompress (checksummed). */
export async function openWal(store: ObjectStore, key: string, identities: Identity[]): Promise<Readable> {
  const out = new PassThrough();
  const src = await store.get(key);
  pipeline(src, createDecryptStream(identities), ...decompressionStages('zstd'), out).catch((err: unknown) =>
    out.destroy(new OperationError(`${key}: ${errorMessage(err)}`, { cause: err })),
  );
  return out;
}

/** One segment as the store has it: the finished object, the partial one being replaced as it grows, or both. */
export interface SegmentEntry {
  name: string;
  tli: number;
  segno: bigint;
  full?: ObjectInfo;
  partial?: ObjectInfo;
}

/** Everything archived of one cluster. */
export interface WalCatalog {
  sysid: string;
  info?: WalClusterInfo;
  /** Per timeline, segments in order. */
  timelines: Map<number, SegmentEntry[]>;
  histories: Map<number, ObjectInfo>;
}

/** The system identifiers that have WAL in the store. */
export async function listWalClusters(store: ObjectStore): Promise<string[]> {
  const ids = new Set<string>();
  for (const o of await store.list(WAL_PREFIX)) {
    const k = parseWalKey(o.key);
    if (k) ids.add(k.sysid);
  }
  return [...ids].sort();
}

export async function listWal(store: ObjectStore, sysid: string): Promise<WalCatalog> {
  const info = await readClusterInfo(store, sysid);
  const timelines = new Map<number, SegmentEntry[]>();
  const histories = new Map<number, ObjectInfo>();
  const bySeg = new Map<string, SegmentEntry>();
  for (const o of await store.list(walClusterPrefix(sysid))) {
    const k = parseWalKey(o.key);
    if (!k || k.kind === 'cluster') continue;
    if (k.kind === 'history') {
      histories.set(parseInt(k.timeline, 16), o);
      continue;
    }
    if (!info) throw new OperationError(`${walClusterInfoKey(sysid)} is missing: the WAL segment size of cluster ${sysid} is unknown`);
    let e = bySeg.get(k.segment);
    if (!e) {
      const id = parseSegmentName(k.segment, info.walSegmentSize);
      e = { name: k.segment, tli: id.tli, segno: id.segno };
      bySeg.set(k.segment, e);
      const list = timelines.get(id.tli) ?? [];
      list.push(e);
      timelines.set(id.tli, list);
    }
    if (k.partial) e.partial = o;
    else e.full = o;
  }
  for (const list of timelines.values()) list.sort((a, b) => (a.segno < b.segno ? -1 : a.segno > b.segno ? 1 : 0));
  return { sysid, info, timelines, histories };
}

export interface ChainGap {
  /** The first missing segment's name, and how many are missing from there. */
  from: string;
  count: bigint;
}

export interface Chain {
  /** Segments from the start on, as long as they are consecutive and finished (the last may be partial only). */
  segments: SegmentEntry[];
  /** The last one exists only as the partial segment being written. */
  endsPartial: boolean;
  /** Every hole between the start and the timeline's newest segment. */
  gaps: ChainGap[];
  /** The newest segment of the timeline at or after the start (also beyond a gap). */
  newest?: SegmentEntry;
}

/**
 * The consecutive run of segments of `tli` from `startSegno` on. A segment stored only as a partial can end the
 * run; one followed by newer segments is a hole (its finished version is missing). Every hole between the
 * start and the newest segment is reported.
 */
export function walChain(cat: WalCatalog, tli: number, startSegno: bigint): Chain {
  const segSize = cat.info?.walSegmentSize ?? 16 * 1024 * 1024;
  const list = (cat.timelines.get(tli) ?? []).filter((e) => e.segno >= startSegno);
  const segments: SegmentEntry[] = [];
  const gaps: ChainGap[] = [];
  let expect = startSegno;
  let broken = false;
  list.forEach((e, i) => {
    if (e.segno !== expect) {
      gaps.push({ from: segmentName(tli, expect, segSize), count: e.segno - expect });
      broken = true;
    }
    expect = e.segno + 1n;
    const last = i === list.length - 1;
    if (!e.full && !last) {
      gaps.push({ from: e.name, count: 1n });
      broken = true;
      return;
    }
    if (!broken) segments.push(e);
  });
  if (list.length === 0) gaps.push({ from: segmentName(tli, startSegno, segSize), count: 1n });
  const tail = segments.at(-1);
  return { segments, endsPartial: !broken && tail !== undefined && !tail.full, gaps, newest: list.at(-1) };
}

export function describeGap(g: ChainGap): string {
  return g.count === 1n ? `WAL segment ${g.from} is missing` : `${g.count} WAL segments from ${g.from} on are missing`;
}

export { timelineHex };
