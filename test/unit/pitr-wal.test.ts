import { describe, expect, it } from 'vitest';
import { parseWalKey, walHistoryKey, walSegmentKey } from '../../src/repository/layout.js';
import { parseWaldump } from '../../src/sources/postgres/pitr/waldump.js';
import { TarScan, parseBackupLabel } from '../../src/sources/postgres/pitr/tar-scan.js';
import { formatLsn, formatMicros, parseIsoMicros, parseLsn, parseSegmentName, parseSegmentSize, segmentName, segnoOfLsn } from '../../src/sources/postgres/pitr/wal-names.js';
import { walChain, type WalCatalog } from '../../src/sources/postgres/pitr/wal-store.js';

const MiB = 1024 * 1024;

describe('WAL names and positions', () => {
  it('LSNs, segment names and numbers round-trip, for 16 MiB and 1 MiB segments', () => {
    expect(formatLsn(parseLsn('0/700028'))).toBe('0/700028');
    expect(parseLsn('1/0')).toBe(1n << 32n);
    expect(segmentName(1, segnoOfLsn(parseLsn('0/7000028'), 16 * MiB), 16 * MiB)).toBe('000000010000000000000007');
    expect(segmentName(2, 0x1ffn, 16 * MiB)).toBe('0000000200000001000000FF');
    expect(parseSegmentName('0000000200000001000000FF', 16 * MiB)).toEqual({ tli: 2, segno: 0x1ffn });
    expect(segmentName(1, 4096n + 5n, MiB)).toBe('000000010000000100000005');
    expect(() => parseSegmentName('000000010000000000000100', 16 * MiB)).toThrow(/does not exist/);
    expect(parseSegmentSize('16MB')).toBe(16 * MiB);
    expect(() => parseSegmentSize('3MB')).toThrow(/power of two/);
  });

  it('times keep their microseconds and need a zone', () => {
    expect(parseIsoMicros('2026-11-24T10:15:30.123456+08:00')).toBe(parseIsoMicros('2026-11-24T02:15:30.123456Z'));
    expect(formatMicros(parseIsoMicros('2026-11-24 02:15:30.5+00')!)).toBe('2026-11-24T02:15:30.500000Z');
    expect(parseIsoMicros('2026-11-24T10:15:30')).toBeUndefined();
    expect(parseIsoMicros('yesterday')).toBeUndefined();
  });

  it('WAL keys: one place builds and parses them', () => {
    const k = walSegmentKey('7715504901116374898', '000000010000000000000007');
    expect(k).toBe('wal/7715504901116374898/00000001/000000010000000000000007.zst.age');
    expect(parseWalKey(k)).toEqual({ kind: 'segment', sysid: '7715504901116374898', segment: '000000010000000000000007', partial: false });
    expect(parseWalKey(walSegmentKey('1', '000000010000000000000008', true))).toMatchObject({ partial: true });
    expect(parseWalKey(walHistoryKey('1', '00000002'))).toEqual({ kind: 'history', sysid: '1', timeline: '00000002' });
    expect(parseWalKey('wal/1/00000002/000000010000000000000008.zst.age')).toBeUndefined(); // timeline dir ≠ name
    expect(() => walSegmentKey('1', '../x')).toThrow();
  });
});

describe('walChain: holes are found and named', () => {
  const cat = (names: Array<[string, 'full' | 'partial' | 'both']>): WalCatalog => ({
    sysid: '1',
    info: { formatVersion: 1, systemIdentifier: '1', walSegmentSize: 16 * MiB, serverVersion: '15', createdAt: '' },
    histories: new Map(),
    timelines: new Map([
      [
        1,
        names.map(([n, k]) => {
          const o = { key: n, size: 1, lastModified: new Date() };
          return { name: n, tli: 1, segno: parseSegmentName(n, 16 * MiB).segno, full: k !== 'partial' ? o : undefined, partial: k !== 'full' ? o : undefined };
        }),
      ],
    ]),
  });
  const s = (n: number) => segmentName(1, BigInt(n), 16 * MiB);

  it('a whole chain may end with the partial segment being written', () => {
    const c = walChain(cat([[s(3), 'full'], [s(4), 'both'], [s(5), 'partial']]), 1, 3n);
    expect(c.gaps).toEqual([]);
    expect(c.segments.map((e) => e.name)).toEqual([s(3), s(4), s(5)]);
    expect(c.endsPartial).toBe(true);
  });

  it('a missing segment, a missing start, and a partial with newer segments after it are holes', () => {
    expect(walChain(cat([[s(3), 'full'], [s(5), 'full']]), 1, 3n).gaps).toEqual([{ from: s(4), count: 1n }]);
    expect(walChain(cat([[s(5), 'full']]), 1, 3n).gaps).toEqual([{ from: s(3), count: 2n }]);
    expect(walChain(cat([[s(3), 'partial'], [s(4), 'full']]), 1, 3n).gaps).toEqual([{ from: s(3), count: 1n }]);
    expect(walChain(cat([]), 1, 3n).gaps).toEqual([{ from: s(3), count: 1n }]);
  });
});

describe('pg_basebackup and pg_waldump output', () => {
  it('backup_label gives the start; a tar scan finds the label and the manifest WAL range', async () => {
    const label = 'START WAL LOCATION: 0/700028 (file 000000010000000000000007)\nCHECKPOINT LOCATION: 0/700060\nSTART TIME: 2026-12-04 17:39:45 UTC\nSTART TIMELINE: 1\n';
    expect(parseBackupLabel(label)).toMatchObject({ startLsn: parseLsn('0/700028'), startSegment: '000000010000000000000007', timeline: 1 });
    const manifest = '{ "PostgreSQL-Backup-Manifest-Version": 1,\n"WAL-Ranges": [\n{ "Timeline": 1, "Start-LSN": "0/700028", "End-LSN": "0/700100" }\n],\n"Manifest-Checksum": "x"}\n';
    const { Header } = await import('tar');
    const entry = (name: string, body: string) => {
      const h = new Header({ path: name, size: Buffer.byteLength(body), type: 'File', mode: 0o600, mtime: new Date(0) });
      const block = Buffer.alloc(512);
      h.encode(block, 0);
      const data = Buffer.from(body);
      return Buffer.concat([block, data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
    };
    const tar = Buffer.concat([entry('backup_label', label), entry('global/pg_control', 'x'.repeat(700)), entry('backup_manifest', manifest), Buffer.alloc(1024)]);
    const scan = new TarScan();
    // Fed in odd-sized pieces: headers and contents straddle chunk boundaries.
    for (let i = 0; i < tar.length; i += 333) scan.write(tar.subarray(i, i + 333));
    scan.end();
    scan.resume();
    await new Promise((r) => scan.on('end', r));
    expect(scan.ended).toBe(true);
    expect([...scan.names]).toEqual(['backup_label', 'global/pg_control', 'backup_manifest']);
    expect(scan.label).toBe(label);
    expect(scan.walRange()).toEqual({ timeline: 1, start: parseLsn('0/700028'), end: parseLsn('0/700100') });
  });

  it('pg_waldump lines give the last record and the newest transaction end', () => {
    const out = [
      'rmgr: Heap        len (rec/tot):     54/    54, tx:        737, lsn: 0/00844F20, prev 0/00844EE8, desc: INSERT off 3',
      'rmgr: Transaction len (rec/tot):     34/    34, tx:        737, lsn: 0/00844F58, prev 0/00844F20, desc: COMMIT 2026-12-04 18:10:40.877154 UTC',
      'rmgr: Transaction len (rec/tot):     34/    34, tx:        738, lsn: 0/00844FC0, prev 0/00844F80, desc: ABORT 2026-12-04 18:10:41.5 UTC',
      'rmgr: Standby     len (rec/tot):     50/    50, tx:          0, lsn: 0/00845028, prev 0/00844FE8, desc: RUNNING_XACTS',
    ].join('\n');
    const s = parseWaldump(out);
    expect(s.records).toBe(4);
    expect(formatLsn(s.lastRecord!)).toBe('0/845028');
    expect(formatMicros(s.lastXactMicros!)).toBe('2026-12-04T18:10:41.500000Z');
  });
});
