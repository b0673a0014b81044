import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Identity } from '../../../crypto/index.js';
import type { ObjectStore } from '../../../store/types.js';
import { walSegmentKey } from '../../../repository/layout.js';
import type { LocatedTool } from '../tools.js';
import { parseLsn, type Lsn } from './wal-names.js';
import { openWal, type SegmentEntry } from './wal-store.js';

export interface SegmentSummary {
  /** Start LSN of the last record pg_waldump could read. */
  lastRecord?: Lsn;
  /** Time of the newest transaction end (COMMIT or ABORT record), microseconds since the epoch. */
  lastXactMicros?: bigint;
  records: number;
}

/**
 * What one stored segment holds, by `pg_waldump` on its decrypted copy: its last readable record and its newest
 * commit or abort time (the times recovery_target_time is compared with). A partial segment ends in zeros,
 * where pg_waldump stops with an error after printing every record before: that is expected, not a failure.
 */
export async function summariseSegment(
  store: ObjectStore,
  identities: Identity[],
  sysid: string,
  e: SegmentEntry,
  tool: LocatedTool,
  scratchDir: string,
): Promise<SegmentSummary> {
  const dir = await mkdtemp(join(scratchDir, 'gushen-dr-waldump-'));
  try {
    const file = join(dir, e.name);
    await pipeline(await openWal(store, walSegmentKey(sysid, e.name, !e.full), identities), createWriteStream(file, { mode: 0o600 }));
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(tool.path, [file], { env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' }, maxBuffer: 256 * 1024 * 1024 }, (err, out, errOut) => {
        // Exit 1 with "error in WAL record" / "could not find a valid record" marks the end of what was written.
        if (err && !/error in WAL record|could not find a valid record|invalid record length|invalid magic number|contrecord/i.test(errOut)) reject(new Error(`pg_waldump ${e.name}: ${errOut.trim() || err.message}`));
        else resolve(out);
      });
    });
    return parseWaldump(stdout);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `rmgr: Transaction ... lsn: 0/00844F58, prev ..., desc: COMMIT 2026-12-04 18:10:40.877154 UTC` lines. */
export function parseWaldump(out: string): SegmentSummary {
  const s: SegmentSummary = { records: 0 };
  for (const line of out.split('\n')) {
    const lsn = /\blsn: ([0-9A-F]+\/[0-9A-F]+)/.exec(line);
    if (!lsn) continue;
    s.records++;
    s.lastRecord = parseLsn(lsn[1]);
    const x = /desc: (?:COMMIT|ABORT|COMMIT_PREPARED|ABORT_PREPARED)(?: \d+[:;])? (\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))? UTC/.exec(line);
    if (x) {
      const us = BigInt(Date.parse(`${x[1]}T${x[2]}Z`)) * 1000n + BigInt((x[3] ?? '').padEnd(6, '0'));
      if (s.lastXactMicros === undefined || us > s.lastXactMicros) s.lastXactMicros = us;
    }
  }
  return s;
}
