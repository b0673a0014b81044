/**
 * WAL positions and file names, as PostgreSQL spells them (src/include/access/xlog_internal.h):
 *   LSN          `X/Y`, two hex halves of a 64-bit byte position
 *   segment      `TTTTTTTTXXXXXXXXYYYYYYYY`: timeline, then segment number / segments-per-4-GiB and remainder
 *   history      `TTTTTTTT.history`
 */

export type Lsn = bigint;

export function parseLsn(s: string): Lsn {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(s.trim());
  if (!m) throw new Error(`not an LSN: ${JSON.stringify(s)}`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export function formatLsn(lsn: Lsn): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

const hex8 = (n: bigint | number) => n.toString(16).toUpperCase().padStart(8, '0');

export function timelineHex(tli: number): string {
  return hex8(tli);
}

/** Segments per 4 GiB "xlogid". */
function perId(segSize: number): bigint {
  return 0x100000000n / BigInt(segSize);
}

/** A segment's number (LSN / segment size) and timeline → its file name. */
export function segmentName(tli: number, segno: bigint, segSize: number): string {
  return `${hex8(tli)}${hex8(segno / perId(segSize))}${hex8(segno % perId(segSize))}`;
}

export interface SegmentId {
  tli: number;
  segno: bigint;
}

export function parseSegmentName(name: string, segSize: number): SegmentId {
  if (!/^[0-9A-F]{24}$/.test(name)) throw new Error(`not a WAL segment name: ${JSON.stringify(name)}`);
  const tli = parseInt(name.slice(0, 8), 16);
  const hi = BigInt(`0x${name.slice(8, 16)}`);
  const lo = BigInt(`0x${name.slice(16, 24)}`);
  if (lo >= perId(segSize)) throw new Error(`WAL segment ${name} does not exist with ${segSize}-byte segments`);
  return { tli, segno: hi * perId(segSize) + lo };
}

export function segnoOfLsn(lsn: Lsn, segSize: number): bigint {
  return lsn / BigInt(segSize);
}

export function segmentStartLsn(segno: bigint, segSize: number): Lsn {
  return segno * BigInt(segSize);
}

export function isSegmentName(name: string): boolean {
  return /^[0-9A-F]{24}$/.test(name);
}

export function isHistoryName(name: string): boolean {
  return /^[0-9A-F]{8}\.history$/.test(name);
}

/** `16MB`, `1MB`, `1GB` (SHOW wal_segment_size) → bytes; a power of two from 1 MiB to 1 GiB. */
export function parseSegmentSize(s: string): number {
  const m = /^(\d+)\s*(kB|MB|GB)?$/.exec(s.trim());
  if (!m) throw new Error(`wal_segment_size ${JSON.stringify(s)}: not understood`);
  const n = Number(m[1]) * ({ kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 } as Record<string, number>)[m[2] ?? 'kB'];
  if (!Number.isInteger(Math.log2(n)) || n < 1024 ** 2 || n > 1024 ** 3) throw new Error(`wal_segment_size ${s}: not a power of two from 1 MB to 1 GB`);
  return n;
}

/**
 * An ISO-8601 time with its zone (`2026-11-24T10:15:30.123456+08:00`, `...Z`) as microseconds since the epoch,
 * keeping the microseconds PostgreSQL's timestamps have (a Date keeps milliseconds only).
 */
export function parseIsoMicros(s: string): bigint | undefined {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)$/i.exec(s.trim());
  if (!m) return undefined;
  const zone = m[6].toUpperCase() === 'UTC' ? 'Z' : m[6].length === 3 ? `${m[6]}:00` : m[6].length === 5 ? `${m[6].slice(0, 3)}:${m[6].slice(3)}` : m[6];
  const ms = Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}${zone}`);
  if (Number.isNaN(ms)) return undefined;
  const frac = (m[5] ?? '').padEnd(6, '0');
  return BigInt(ms) * 1000n + BigInt(frac);
}

/** Microseconds since the epoch → `2026-11-24T02:15:30.123456Z`. */
export function formatMicros(us: bigint): string {
  const ms = Number(us / 1000n);
  const frac = (us % 1_000_000n).toString().padStart(6, '0');
  return `${new Date(ms).toISOString().slice(0, 19)}.${frac}Z`;
}

export function microsOfDate(d: Date): bigint {
  return BigInt(d.getTime()) * 1000n;
}
