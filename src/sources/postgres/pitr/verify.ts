import type { Config } from '../../../config/schema.js';
import type { Identity } from '../../../crypto/index.js';
import { walSegmentKey } from '../../../repository/layout.js';
import type { ObjectStore } from '../../../store/types.js';
import { errorMessage } from '../../../util/errors.js';
import { baseBackups, describeWindows, recoveryWindows } from './restore.js';
import { formatLsn, segmentStartLsn } from './wal-names.js';
import { describeGap, listWal, listWalClusters, openWal, type SegmentEntry } from './wal-store.js';

export interface WalCheck {
  ok: boolean;
  what: string;
  detail: string;
}

export interface WalVerifyResult {
  ok: boolean;
  checks: WalCheck[];
  /** The recoverable window, when there is one. */
  window?: string;
}

/** XLOG_PAGE_MAGIC by major version (src/include/access/xlog_internal.h), where we have checked it. */
const PAGE_MAGIC: Record<number, number> = { 15: 0xd110 };
const XLP_LONG_HEADER = 0x0002;

/**
 * `verify --wal`: the archived WAL is continuous from every retained base backup's start to the newest segment
 * of its timeline (a hole names the first missing segment). With identities (`--deep`), every one of those
 * segments is also decrypted and its first page header checked: WAL magic of the server's version, the timeline,
 * the segment's own address, the cluster's system identifier and segment size.
 */
export async function verifyWal(o: { store: ObjectStore; config: Config; identities?: Identity[] }): Promise<WalVerifyResult> {
  const checks: WalCheck[] = [];
  const bases = await baseBackups(o.store, o.config);
  if (bases.length === 0) {
    const clusters = await listWalClusters(o.store);
    checks.push({ ok: false, what: 'base backups', detail: `no Completed backup holds a base backup (postgres/base.tar)${clusters.length ? `: the WAL of cluster ${clusters.join(', ')} cannot be used` : ''}` });
    return { ok: false, checks };
  }
  const w = (await recoveryWindows(o.store, bases))!;
  const deepDone = new Set<string>();
  for (const win of w.windows) {
    const f = win.base.facts;
    const what = `WAL from base backup ${win.base.backupId}`;
    const c = win.chain;
    const last = c.segments.at(-1);
    if (c.gaps.length > 0 || !last) {
      checks.push({ ok: false, what, detail: `${c.gaps.map(describeGap).join('; ')} (continuous from ${f.startSegment} to ${last?.name ?? 'nothing'})` });
    } else {
      checks.push({ ok: true, what, detail: `${c.segments.length} segments ${f.startSegment}..${last.name}${c.endsPartial ? ' (the last one partial: being written)' : ''}` });
    }
    if (o.identities) {
      for (const e of c.segments) {
        if (deepDone.has(e.name)) continue;
        deepDone.add(e.name);
        const problem = await checkSegmentHeader(o.store, o.identities, w.sysid, e, { sysid: f.systemIdentifier, segSize: f.walSegmentSize, major: Number(f.serverVersion.split('.')[0]) });
        if (problem) checks.push({ ok: false, what: `WAL segment ${e.name}${e.full ? '' : ' (partial)'}`, detail: problem });
      }
    }
  }
  if (o.identities) checks.push({ ok: checks.every((c) => c.ok), what: 'WAL page headers', detail: `${deepDone.size} segments decrypted and their first page checked` });
  // Newer timelines (after a point-in-time recovery promoted a new primary) are checked on their own.
  const baseTlis = new Set(w.windows.map((x) => x.base.facts.timeline));
  for (const [tli, list] of w.catalog.timelines) {
    if (baseTlis.has(tli)) continue;
    const holes = list.slice(1).filter((e, i) => e.segno !== list[i].segno + 1n).map((e) => e.name);
    checks.push({ ok: holes.length === 0, what: `WAL of timeline ${tli}`, detail: holes.length ? `a hole before ${holes.join(', ')}` : `${list.length} segments ${list[0].name}..${list.at(-1)!.name}` });
  }
  return { ok: checks.every((c) => c.ok), checks, window: describeWindows(w) };
}

/** Undefined when the segment's first page header is what this segment must have; else what is wrong. */
async function checkSegmentHeader(
  store: ObjectStore,
  identities: Identity[],
  sysid: string,
  e: SegmentEntry,
  want: { sysid: string; segSize: number; major: number },
): Promise<string | undefined> {
  let head: Buffer;
  try {
    // Read to the end: age authenticates every chunk and zstd checks its checksum; keep only the header.
    let first = Buffer.alloc(0);
    let size = 0;
    for await (const c of await openWal(store, walSegmentKey(sysid, e.name, !e.full), identities)) {
      if (first.length < 64) first = Buffer.concat([first, c as Buffer]).subarray(0, 64);
      size += (c as Buffer).length;
    }
    head = first;
    if (head.length < 40) return 'shorter than a WAL page header';
    if (size !== want.segSize) return `${size} bytes, not ${want.segSize}`;
  } catch (err) {
    return errorMessage(err);
  }
  const magic = head.readUInt16LE(0);
  const info = head.readUInt16LE(2);
  const tli = head.readUInt32LE(4);
  const pageaddr = head.readBigUInt64LE(8);
  if (PAGE_MAGIC[want.major] !== undefined && magic !== PAGE_MAGIC[want.major]) return `WAL page magic 0x${magic.toString(16)}, not PostgreSQL ${want.major}'s`;
  if (!(info & XLP_LONG_HEADER)) return 'the first page has no long header';
  if (tli !== e.tli) return `timeline ${tli} in the header, ${e.tli} in the name`;
  const start = segmentStartLsn(e.segno, want.segSize);
  if (pageaddr !== start) return `page address ${formatLsn(pageaddr)}, the segment starts at ${formatLsn(start)}`;
  const headerSysid = head.readBigUInt64LE(24).toString();
  if (headerSysid !== want.sysid) return `system identifier ${headerSysid}, not ${want.sysid}`;
  if (head.readUInt32LE(32) !== want.segSize) return `segment size ${head.readUInt32LE(32)} in the header`;
  return undefined;
}

export { listWal };
