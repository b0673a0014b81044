import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { openArtifact } from '../../../repository/artifact-reader.js';
import { withFacts } from '../../../repository/artifact-writer.js';
import type { Artifact } from '../../../repository/manifest.js';
import { OperationError, errorMessage } from '../../../util/errors.js';
import { redactUrl } from '../../../util/redact.js';
import type { BackupContext, BackupResult } from '../../source.js';
import type { RestoreContext } from '../../restore-context.js';
import type { PostgresSourceConfig } from '../config.js';
import { ToolOutput, stopTool } from '../dump-stream.js';
import { pgConnection, spawnPgTool } from '../tools.js';
import type { BasebackupFacts } from './facts.js';
import { locatePitrTool } from './pg-bin.js';
import { pitrOf, replicationUrl, withReplication } from './replication.js';
import { TarScan, parseBackupLabel } from './tar-scan.js';
import { formatLsn, segmentName, segnoOfLsn } from './wal-names.js';
import { describeGap, listWal, walChain } from './wal-store.js';

export const BASEBACKUP_ARTIFACT = 'postgres/base.tar';
export const BASEBACKUP_KIND = 'pg_basebackup-tar';

/**
 * The base backup of point-in-time recovery: `pg_basebackup -Ft -D - -X none` streamed as one tar into the
 * `postgres/base.tar` artifact (no local copy), its WAL range read from the archive's own backup_label and
 * backup_manifest. The WAL it needs comes from `gushen-dr wal-archive`: the artifact is kept only once every
 * segment from its start to its stop LSN is in the store, waited for at most `pitr.walWaitSeconds`.
 */
export async function backupBase(ctx: BackupContext, cfg: PostgresSourceConfig, hooks: { onWalWait?: () => Promise<void> } = {}): Promise<Artifact> {
  const pitr = pitrOf(cfg);
  const url = replicationUrl(cfg);
  const log = ctx.log.child({ artifact: BASEBACKUP_ARTIFACT });
  const connectMs = Math.min(30, cfg.timeoutSeconds ?? 300) * 1000;
  const system = await withReplication(url, (c) => c.identify(), connectMs);
  const tool = await locatePitrTool('pg_basebackup', { binDir: cfg.binDir, major: system.major });
  const conn = pgConnection(url);
  conn.env.PGCONNECT_TIMEOUT = String(connectMs / 1000);
  const args = ['--pgdata=-', '--format=tar', '--wal-method=none', '--checkpoint=fast', `--label=gushen-dr ${ctx.backupId}`, '--no-password', `--dbname=${conn.connString}`];
  const startedAt = new Date();
  log.info({ server: redactUrl(conn.connString), pgBasebackup: tool.version.full, systemIdentifier: system.systemIdentifier }, 'postgres: base backup started');
  const { child, done } = spawnPgTool(tool, args, conn, { signal: ctx.signal, largeStdoutBuffer: true });
  const output = new ToolOutput(child, done, 'pg_basebackup', undefined, (cfg.timeoutSeconds ?? 300) * 1000);
  const scan = new TarScan();
  output.on('error', (err) => scan.destroy(err));
  output.pipe(scan);
  let written;
  try {
    written = await ctx.writer.write(
      { name: BASEBACKUP_ARTIFACT, source: 'postgres', kind: BASEBACKUP_KIND, compression: cfg.compression, compressionLevel: cfg.compressionLevel },
      scan,
      ctx.signal,
    );
  } catch (err) {
    await stopTool(child, done);
    throw new OperationError(`base backup: ${errorMessage(err)}`, { cause: err });
  }
  const stoppedAt = new Date();
  try {
    if (!scan.ended || !scan.names.has('global/pg_control')) throw new OperationError('base backup: pg_basebackup wrote no complete data directory archive');
    if (!scan.label) throw new OperationError('base backup: the archive has no backup_label');
    const label = parseBackupLabel(scan.label);
    const range = scan.walRange();
    if (!range) {
      throw new OperationError('base backup: the archive has no backup_manifest with WAL-Ranges (pg_basebackup writes it into the tar on stdout from PostgreSQL 15 on)');
    }
    const seg = system.walSegmentSize;
    const stopSegno = segnoOfLsn(range.end - 1n, seg);
    const facts: BasebackupFacts = {
      type: 'postgres-basebackup',
      serverVersion: system.serverVersion,
      pgBasebackupVersion: tool.version.full,
      systemIdentifier: system.systemIdentifier,
      timeline: label.timeline,
      walSegmentSize: seg,
      startLsn: formatLsn(label.startLsn),
      stopLsn: formatLsn(range.end),
      startSegment: label.startSegment,
      stopSegment: segmentName(range.timeline, stopSegno, seg),
      startedAt: startedAt.toISOString(),
      stoppedAt: stoppedAt.toISOString(),
      walCheckedAt: '',
    };
    log.info({ startLsn: facts.startLsn, stopLsn: facts.stopLsn, bytes: written.size, seconds: (stoppedAt.getTime() - startedAt.getTime()) / 1000 }, 'postgres: base backup streamed; waiting for its WAL in the store');
    await hooks.onWalWait?.();
    facts.walCheckedAt = (await waitForWal(ctx, system.systemIdentifier, label.timeline, segnoOfLsn(label.startLsn, seg), stopSegno, pitr.walWaitSeconds)).toISOString();
    log.info({ startSegment: facts.startSegment, stopSegment: facts.stopSegment }, 'postgres: the base backup WAL is in the store');
    return withFacts(written, facts);
  } catch (err) {
    await ctx.writer.discard(written).catch(() => undefined);
    throw err;
  }
}

/**
 * With `pitr.enabled`, a PostgreSQL backup also holds a base backup; its failure fails that artifact only
 * (the dumps stay usable, the backup is then PartiallyFailed).
 */
export async function addBaseBackup(ctx: BackupContext, result: BackupResult): Promise<BackupResult> {
  const cfg = ctx.config.sources.postgres;
  if (!cfg?.pitr?.enabled) return result;
  // pg_basebackup is a side effect on the server and a store write: only with the backup lock held.
  await (ctx as { held?: Promise<void> }).held;
  if (ctx.signal.aborted) return { ...result, failures: [...result.failures, { source: 'postgres', artifact: BASEBACKUP_ARTIFACT, error: 'interrupted before it started' }] };
  try {
    return { ...result, artifacts: [...result.artifacts, await backupBase(ctx, cfg)] };
  } catch (err) {
    ctx.log.error({ artifact: BASEBACKUP_ARTIFACT, err: errorMessage(err) }, 'postgres base backup failed');
    return { ...result, failures: [...result.failures, { source: 'postgres', artifact: BASEBACKUP_ARTIFACT, error: errorMessage(err) }] };
  }
}

/**
 * Waits until every segment of `tli` from `from` to `to` is stored as a finished segment (the base backup's
 * stop forces a segment switch, so the last one finishes promptly). Checked in the store, never assumed.
 */
async function waitForWal(ctx: BackupContext, sysid: string, tli: number, from: bigint, to: bigint, waitSeconds: number): Promise<Date> {
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    const cat = await listWal(ctx.writer.store, sysid);
    const chain = cat.info ? walChain(cat, tli, from) : undefined;
    const finished = chain?.segments.filter((e) => e.full && e.segno <= to) ?? [];
    if (chain && finished.length === Number(to - from + 1n)) return new Date();
    if (Date.now() >= deadline || ctx.signal.aborted) {
      const seg = cat.info?.walSegmentSize ?? 16 * 1024 * 1024;
      const missing = !cat.info
        ? `no WAL of cluster ${sysid} is in the store at all`
        : chain && chain.gaps.length > 0 && chain.gaps[0].from <= segmentName(tli, to, seg)
          ? describeGap(chain.gaps[0])
          : `WAL segment ${segmentName(tli, (finished.at(-1)?.segno ?? from - 1n) + 1n, seg)} is not stored yet`;
      throw new OperationError(
        `base backup: ${missing} after waiting ${waitSeconds} s (pitr.walWaitSeconds); it needs ${segmentName(tli, from, seg)} to ${segmentName(tli, to, seg)}: is gushen-dr wal-archive running?`,
      );
    }
    await sleep(1000, undefined, { signal: ctx.signal }).catch(() => undefined);
  }
}

/**
 * `verify --deep` of a base backup: decrypts and reads the whole tar (plaintext size and SHA-256 checked on the
 * way), which must end properly, hold the data directory's pg_control, and carry the backup_label and
 * backup_manifest WAL range its facts name.
 */
export async function deepVerifyBasebackup(ctx: RestoreContext, a: Artifact): Promise<void> {
  if (a.facts.type !== 'postgres-basebackup') throw new OperationError(`${a.name}: not a base backup (facts ${a.facts.type})`);
  const facts = a.facts;
  const scan = new TarScan();
  await pipeline(await openArtifact(ctx.store, a, ctx.identities), scan, new Writable({ write: (_c, _e, cb) => cb() }), ctx.signal ? { signal: ctx.signal } : {});
  if (!scan.ended) throw new OperationError(`${a.name}: the tar archive does not end properly`);
  if (!scan.names.has('global/pg_control')) throw new OperationError(`${a.name}: no global/pg_control in the archive`);
  if (!scan.label) throw new OperationError(`${a.name}: no backup_label in the archive`);
  const label = parseBackupLabel(scan.label);
  const range = scan.walRange();
  if (formatLsn(label.startLsn) !== facts.startLsn || !range || formatLsn(range.end) !== facts.stopLsn) {
    throw new OperationError(`${a.name}: its backup_label / backup_manifest WAL range differs from the manifest's (${facts.startLsn} to ${facts.stopLsn})`);
  }
}
