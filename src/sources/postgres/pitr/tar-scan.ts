import { Transform, type TransformCallback } from 'node:stream';
import { parseLsn, type Lsn } from './wal-names.js';

const BLOCK = 512;
/** How much of backup_manifest is kept: its WAL-Ranges and checksum come last. */
const MANIFEST_TAIL = 256 * 1024;

/**
 * Passes a tar stream through unchanged while reading its headers: what a `pg_basebackup -Ft -D -` archive
 * says about itself (backup_label, the end of backup_manifest), how many entries, and whether it ended properly.
 * Handles ustar headers with octal or base-256 sizes, as PostgreSQL writes them.
 */
export class TarScan extends Transform {
  readonly names = new Set<string>();
  entries = 0;
  /** Two zero blocks were seen. */
  ended = false;
  label?: string;
  private manifestTail = Buffer.alloc(0);
  private header = Buffer.alloc(0);
  /** Bytes of the current entry's content still to come, then its padding. */
  private content = 0;
  private padding = 0;
  private capture?: 'label' | 'manifest';
  private captured: Buffer[] = [];
  private zeroBlocks = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.scan(chunk);
    } catch (err) {
      return cb(err as Error);
    }
    cb(null, chunk);
  }

  private scan(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.content > 0) {
        const n = Math.min(this.content, chunk.length - i);
        if (this.capture) this.keep(chunk.subarray(i, i + n));
        this.content -= n;
        i += n;
        if (this.content === 0) this.finishEntry();
        continue;
      }
      if (this.padding > 0) {
        const n = Math.min(this.padding, chunk.length - i);
        this.padding -= n;
        i += n;
        continue;
      }
      if (this.ended) return; // what follows the end marker (more zero blocks) is not looked at
      const n = Math.min(BLOCK - this.header.length, chunk.length - i);
      this.header = Buffer.concat([this.header, chunk.subarray(i, i + n)]);
      i += n;
      if (this.header.length === BLOCK) {
        this.readHeader(this.header);
        this.header = Buffer.alloc(0);
      }
    }
  }

  private readHeader(h: Buffer): void {
    if (h.every((b) => b === 0)) {
      this.zeroBlocks++;
      if (this.zeroBlocks >= 2) this.ended = true;
      return;
    }
    this.zeroBlocks = 0;
    const str = (from: number, len: number) => {
      const s = h.subarray(from, from + len);
      const z = s.indexOf(0);
      return s.subarray(0, z < 0 ? len : z).toString('utf8');
    };
    const magic = str(257, 6);
    const prefix = magic.startsWith('ustar') ? str(345, 155) : '';
    const name = (prefix ? `${prefix}/` : '') + str(0, 100);
    const size = tarNumber(h.subarray(124, 136));
    const type = String.fromCharCode(h[156] || 0x30);
    this.entries++;
    this.names.add(name.replace(/^\.\//, ''));
    // Links, devices, directories and FIFOs have no content; files, GNU long names and pax headers do.
    this.content = '123456'.includes(type) ? 0 : size;
    this.padding = this.content % BLOCK === 0 ? 0 : BLOCK - (this.content % BLOCK);
    this.capture = name === 'backup_label' ? 'label' : name === 'backup_manifest' ? 'manifest' : undefined;
    this.captured = [];
    if (this.content === 0) this.finishEntry();
  }

  private keep(b: Buffer): void {
    if (this.capture === 'label') this.captured.push(Buffer.from(b));
    else {
      this.manifestTail = Buffer.concat([this.manifestTail, b]);
      if (this.manifestTail.length > MANIFEST_TAIL) this.manifestTail = this.manifestTail.subarray(this.manifestTail.length - MANIFEST_TAIL);
    }
  }

  private finishEntry(): void {
    if (this.capture === 'label') this.label = Buffer.concat(this.captured).toString('utf8');
    this.capture = undefined;
    this.captured = [];
  }

  /** The WAL range the backup needs, from backup_manifest (its last WAL-Ranges entry ends the backup). */
  walRange(): { timeline: number; start: Lsn; end: Lsn } | undefined {
    const text = this.manifestTail.toString('utf8');
    const ranges = [...text.matchAll(/\{\s*"Timeline":\s*(\d+),\s*"Start-LSN":\s*"([0-9A-F]+\/[0-9A-F]+)",\s*"End-LSN":\s*"([0-9A-F]+\/[0-9A-F]+)"\s*\}/gi)];
    if (ranges.length === 0) return undefined;
    const first = ranges[0];
    const last = ranges[ranges.length - 1];
    return { timeline: Number(last[1]), start: parseLsn(first[2]), end: parseLsn(last[3]) };
  }
}

/** backup_label's fields: `START WAL LOCATION: 0/700028 (file 000000010000000000000007)`, `START TIMELINE: 1`, ... */
export function parseBackupLabel(text: string): { startLsn: Lsn; startSegment: string; timeline: number; startTime?: string } {
  const loc = /^START WAL LOCATION: ([0-9A-F]+\/[0-9A-F]+) \(file ([0-9A-F]{24})\)$/m.exec(text);
  const tli = /^START TIMELINE: (\d+)$/m.exec(text);
  if (!loc) throw new Error('backup_label has no START WAL LOCATION');
  const time = /^START TIME: (.+)$/m.exec(text)?.[1];
  return { startLsn: parseLsn(loc[1]), startSegment: loc[2], timeline: tli ? Number(tli[1]) : parseInt(loc[2].slice(0, 8), 16), startTime: time };
}

/** A tar header number: octal text, or base-256 when the first byte's high bit is set (files over 8 GiB). */
function tarNumber(b: Buffer): number {
  if (b[0] & 0x80) {
    let n = 0;
    for (let i = 1; i < b.length; i++) n = n * 256 + b[i];
    return n;
  }
  const s = b.toString('ascii').replace(/\0.*$/s, '').trim();
  return s ? parseInt(s, 8) : 0;
}
