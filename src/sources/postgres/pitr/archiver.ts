import { createReadStream } from 'node:fs';
import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Config } from '../../../config/schema.js';
import { loadRecipients } from '../../../config/keys.js';
import { walHistoryKey, walSegmentKey } from '../../../repository/layout.js';
import type { ObjectStore } from '../../../store/types.js';
import { OperationError, UsageError, errorMessage, findCause } from '../../../util/errors.js';
import type { Logger } from '../../../util/log.js';
import { redactUrl } from '../../../util/redact.js';
import type { PostgresSourceConfig } from '../config.js';
import { pgConnection, spawnPgTool, toolFailure, type LocatedTool, type ToolRun } from '../tools.js';
import { locatePitrTool } from './pg-bin.js';
import { ReplicationConnection, pitrOf, replicationUrl, type SystemInfo } from './replication.js';
import { formatLsn, isHistoryName, isSegmentName, parseSegmentName, segmentStartLsn, type Lsn } from './wal-names.js';
import { putWal, readClusterInfo, writeClusterInfo } from './wal-store.js';

export interface ArchiverOptions {
  config: Config;
  store: ObjectStore;
  log: Logger;
  /** Overrides `pitr.slot`. */
  slot?: string;
  /** Create the slot when it is missing (default true); false: a missing slot is an error. */
  createSlot?: boolean;
  /** Stops the archiver: pg_receivewal is stopped, what it wrote is stored (the partial segment too), run() resolves. */
  signal: AbortSignal;
}

/** What /healthz shows. */
export interface ArchiverStatus {
  receiver: 'starting' | 'running' | 'restarting' | 'stopped';
  systemIdentifier?: string;
  timeline?: number;
  slot: string;
  lastArchivedSegment?: string;
  lastArchivedAt?: string;
  lastUploadAt?: string;
  archivedLsn?: string;
  serverFlushLsn?: string;
  lagSeconds: number;
  slotRetainedBytes?: number;
  consecutiveUploadFailures: number;
  lastError?: string;
}

const RECEIVER_BACKOFF_MAX_MS = 30_000;
/** pg_receivewal that ran this long before it exited starts over at the shortest backoff. */
const RECEIVER_STABLE_MS = 60_000;
const UPLOAD_TICK_MS = 250;
const POLL_MS = 2_000;
const PAGE = 8192n;

/**
 * `gushen-dr wal-archive`: keeps `pg_receivewal` streaming WAL from a physical replication slot into the spool
 * directory and stores every finished segment (and timeline history file) as `wal/<sysid>/...` through
 * SHA-256 → zstd → age, removing it from the spool once stored; the segment being written is stored as
 * `<segment>.partial` every `pitr.partialUploadSeconds`. The slot holds WAL on the server while pg_receivewal or
 * PostgreSQL restart (pg_receivewal is restarted with backoff and resumes from its spool), so nothing is skipped.
 */
export class WalArchiver {
  readonly registry = new Registry();
  private readonly cfg: PostgresSourceConfig;
  private readonly pitr: NonNullable<PostgresSourceConfig['pitr']>;
  private readonly slot: string;
  private readonly log: Logger;
  private recipients: string[] = [];
  private system?: SystemInfo;
  private child?: ChildProcess;
  private receiverState: ArchiverStatus['receiver'] = 'starting';
  private receiverDownSince = Date.now();
  private lastPartial?: { name: string; mtimeMs: number; size: number };
  private lastPartialUploadAt = 0;
  private archivedLsn?: Lsn;
  private serverFlushLsn?: Lsn;
  private slotRetained?: number;
  private lastArchived?: { segment: string; at: Date };
  private lastUploadAt?: Date;
  private lastError?: string;
  private uploadFailures = 0;
  /** Server flush positions over time, for the lag in seconds: (time, LSN), oldest first. */
  private samples: Array<{ t: number; lsn: Lsn }> = [];
  private readonly m: {
    receiverUp: Gauge;
    restarts: Counter;
    segments: Counter;
    partials: Counter;
    failures: Counter;
    bytes: Counter;
  };

  constructor(private readonly o: ArchiverOptions) {
    this.cfg = o.config.sources.postgres as PostgresSourceConfig;
    if (!this.cfg) throw new UsageError('sources.postgres is not configured');
    this.pitr = pitrOf(this.cfg);
    this.slot = o.slot ?? this.pitr.slot;
    if (!/^[a-z0-9_]{1,63}$/.test(this.slot)) throw new UsageError(`--slot ${this.slot}: expected lower-case letters, digits and _ (at most 63)`);
    this.log = o.log.child({ component: 'wal-archive' });
    const registers = [this.registry];
    new Gauge({ name: 'gushen_dr_wal_archiver_up', help: '1 while gushen-dr wal-archive runs', registers }).set(1);
    this.m = {
      receiverUp: new Gauge({ name: 'gushen_dr_wal_receiver_up', help: '1 while pg_receivewal is streaming', registers }),
      restarts: new Counter({ name: 'gushen_dr_wal_receiver_restarts_total', help: 'Times pg_receivewal exited and was started again', registers }),
      segments: new Counter({ name: 'gushen_dr_wal_segments_archived_total', help: 'Finished WAL segments stored', registers }),
      partials: new Counter({ name: 'gushen_dr_wal_partial_uploads_total', help: 'Uploads of the segment being written', registers }),
      failures: new Counter({ name: 'gushen_dr_wal_upload_failures_total', help: 'Failed uploads (retried)', registers }),
      bytes: new Counter({ name: 'gushen_dr_wal_archived_bytes_total', help: 'Plaintext bytes of finished segments stored', registers }),
    };
    const computed = (name: string, help: string, value: () => number | undefined) => {
      const g: Gauge = new Gauge({
        name,
        help,
        registers,
        collect: () => {
          const v = value();
          if (v !== undefined) g.set(v);
        },
      });
    };
    computed('gushen_dr_wal_last_archived_timestamp_seconds', 'When the newest finished WAL segment was stored', () => this.lastArchived && this.lastArchived.at.getTime() / 1000);
    computed('gushen_dr_wal_last_upload_timestamp_seconds', 'When WAL (a finished segment or the partial one) was last stored', () => this.lastUploadAt && this.lastUploadAt.getTime() / 1000);
    computed('gushen_dr_wal_archive_lag_seconds', 'Age of the oldest WAL the server has flushed that is not stored yet (0: all stored)', () => this.lagSeconds());
    computed('gushen_dr_wal_archive_lag_bytes', 'Server flush position minus the stored position', () =>
      this.serverFlushLsn !== undefined && this.archivedLsn !== undefined ? Math.max(0, Number(this.serverFlushLsn - this.archivedLsn)) : undefined,
    );
    computed('gushen_dr_wal_slot_retained_bytes', 'WAL the replication slot holds on the server (its flush position minus the slot restart_lsn)', () => this.slotRetained);
    const info: Gauge<'segment' | 'timeline'> = new Gauge({
      name: 'gushen_dr_wal_last_archived_segment_info',
      help: 'The newest finished WAL segment stored (value 1)',
      labelNames: ['segment', 'timeline'],
      registers,
      collect: () => {
        info.reset();
        const seg = this.lastArchived?.segment;
        if (seg) info.set({ segment: seg, timeline: String(parseInt(seg.slice(0, 8), 16)) }, 1);
      },
    });
  }

  status(): ArchiverStatus {
    return {
      receiver: this.receiverState,
      systemIdentifier: this.system?.systemIdentifier,
      timeline: this.system?.timeline,
      slot: this.slot,
      lastArchivedSegment: this.lastArchived?.segment,
      lastArchivedAt: this.lastArchived?.at.toISOString(),
      lastUploadAt: this.lastUploadAt?.toISOString(),
      archivedLsn: this.archivedLsn === undefined ? undefined : formatLsn(this.archivedLsn),
      serverFlushLsn: this.serverFlushLsn === undefined ? undefined : formatLsn(this.serverFlushLsn),
      lagSeconds: this.lagSeconds(),
      slotRetainedBytes: this.slotRetained,
      consecutiveUploadFailures: this.uploadFailures,
      lastError: this.lastError,
    };
  }

  /** Healthy while pg_receivewal streams (or was down for less than a minute) and uploads succeed. */
  health(): { ok: boolean; body: ArchiverStatus } {
    const s = this.status();
    const receiverOk = s.receiver === 'running' || Date.now() - this.receiverDownSince < RECEIVER_STABLE_MS;
    return { ok: receiverOk && this.uploadFailures < 3, body: s };
  }

  /** Runs until the signal aborts, then stops pg_receivewal and stores what it wrote. Throws on a fatal error. */
  async run(): Promise<void> {
    const { signal } = this.o;
    this.recipients = await loadRecipients(this.o.config);
    await mkdir(this.pitr.spoolDir, { recursive: true, mode: 0o700 });
    this.log.info({ spool: this.pitr.spoolDir, slot: this.slot, server: redactUrl(replicationUrl(this.cfg)), store: this.o.store.description }, 'wal-archive started');
    const fatal = new AbortController();
    let fatalError: unknown;
    const stop = AbortSignal.any([signal, fatal.signal]);
    const failFatal = (err: unknown) => {
      fatalError ??= err;
      fatal.abort(err);
    };
    const receiver = this.superviseReceiver(stop).catch(failFatal);
    const poller = this.pollServer(stop);
    let backoff = UPLOAD_TICK_MS;
    while (!stop.aborted) {
      const ok = await this.uploadPass(false).catch(failFatal);
      backoff = ok === false ? Math.min(backoff * 2, 30_000) : UPLOAD_TICK_MS;
      await sleep(backoff, undefined, { signal: stop }).catch(() => undefined);
    }
    await receiver;
    await poller;
    if (fatalError) throw fatalError;
    // Shutting down: pg_receivewal has stopped; store what it wrote, the partial segment included.
    for (let attempt = 1; ; attempt++) {
      if (await this.uploadPass(true)) break;
      if (attempt >= 3) throw new OperationError(`could not store the spooled WAL before stopping: ${this.lastError ?? 'upload failed'} (it stays in ${this.pitr.spoolDir} and is stored at the next start)`);
      await sleep(1000);
    }
    this.log.info({ lastArchived: this.lastArchived?.segment, archivedLsn: this.status().archivedLsn }, 'wal-archive stopped; everything spooled is stored');
  }

  // ---- pg_receivewal ----------------------------------------------------------------------------------------

  /** Connects, checks the cluster, then keeps pg_receivewal running with backoff until `stop` aborts. */
  private async superviseReceiver(stop: AbortSignal): Promise<void> {
    let backoff = 1000;
    while (!stop.aborted) {
      const started = Date.now();
      try {
        const system = await this.identify();
        const tool = await locatePitrTool('pg_receivewal', { binDir: this.cfg.binDir, major: system.major });
        if (this.o.createSlot !== false) await this.createSlot(tool);
        const run = await this.runReceiver(tool, stop);
        if (stop.aborted) break;
        const why = toolFailure('pg_receivewal', run) ?? 'pg_receivewal exited';
        this.lastError = why;
        this.log.warn({ err: why, backoffSeconds: backoff / 1000 }, 'pg_receivewal stopped; starting it again');
      } catch (err) {
        if (err instanceof UsageError || err instanceof ClusterChangedError) throw err;
        this.lastError = errorMessage(err);
        this.log.error({ err: this.lastError, backoffSeconds: backoff / 1000 }, 'cannot stream WAL; trying again');
      }
      this.setReceiver('restarting');
      if (Date.now() - started > RECEIVER_STABLE_MS) backoff = 1000;
      await sleep(backoff, undefined, { signal: stop }).catch(() => undefined);
      backoff = Math.min(backoff * 2, RECEIVER_BACKOFF_MAX_MS);
      this.m.restarts.inc();
    }
    this.setReceiver('stopped');
  }

  private setReceiver(state: ArchiverStatus['receiver']): void {
    if (state !== 'running' && this.receiverState === 'running') this.receiverDownSince = Date.now();
    this.receiverState = state;
    this.m.receiverUp.set(state === 'running' ? 1 : 0);
  }

  /** IDENTIFY_SYSTEM; the first time also records the cluster in the store. The cluster must never change. */
  private async identify(): Promise<SystemInfo> {
    const c = await ReplicationConnection.open(replicationUrl(this.cfg), Math.min(30, this.cfg.timeoutSeconds ?? 30) * 1000);
    let info: SystemInfo;
    try {
      info = await c.identify();
    } finally {
      await c.close();
    }
    if (this.system && this.system.systemIdentifier !== info.systemIdentifier) {
      throw new ClusterChangedError(
        `the server is now another PostgreSQL cluster (system identifier ${info.systemIdentifier}, was ${this.system.systemIdentifier}): ` +
          `its WAL cannot continue this archive; start wal-archive again with an empty spool directory (${this.pitr.spoolDir})`,
      );
    }
    if (!this.system) {
      const known = await readClusterInfo(this.o.store, info.systemIdentifier);
      if (known && known.walSegmentSize !== info.walSegmentSize) {
        throw new ClusterChangedError(`cluster ${info.systemIdentifier}: the store says ${known.walSegmentSize}-byte WAL segments, the server has ${info.walSegmentSize}`);
      }
      if (!known) {
        await writeClusterInfo(this.o.store, {
          formatVersion: 1,
          systemIdentifier: info.systemIdentifier,
          walSegmentSize: info.walSegmentSize,
          serverVersion: info.serverVersion,
          createdAt: new Date().toISOString(),
        });
      }
      this.log.info({ systemIdentifier: info.systemIdentifier, timeline: info.timeline, serverVersion: info.serverVersion, walSegmentSize: info.walSegmentSize }, 'archiving WAL of this cluster');
    }
    this.system = info;
    return info;
  }

  private async createSlot(tool: LocatedTool): Promise<void> {
    const conn = pgConnection(replicationUrl(this.cfg));
    const { done } = spawnPgTool(tool, ['--create-slot', '--if-not-exists', `--slot=${this.slot}`, '--no-password', `--dbname=${conn.connString}`], conn);
    const run = await done;
    const failed = toolFailure('pg_receivewal --create-slot', run);
    if (failed) throw new OperationError(failed);
  }

  private async runReceiver(tool: LocatedTool, stop: AbortSignal): Promise<ToolRun> {
    const conn = pgConnection(replicationUrl(this.cfg));
    const args = [
      `--directory=${this.pitr.spoolDir}`,
      `--slot=${this.slot}`,
      // We restart it ourselves, with backoff, and see every exit.
      '--no-loop',
      // Flush every write and report it: the slot then releases WAL only once it is on the spool volume.
      '--synchronous',
      '--no-password',
      '--verbose',
      `--dbname=${conn.connString}`,
    ];
    const { child, done } = spawnPgTool(tool, args, conn, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    let buf = '';
    child.stderr?.on('data', (s: string) => {
      buf += s;
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines.filter(Boolean)) {
        if (/starting log streaming/.test(line)) {
          this.setReceiver('running');
          this.log.info({ pgReceivewal: line }, 'streaming WAL');
        } else if (/finished segment|switched to timeline/.test(line)) this.log.debug({ pgReceivewal: line }, 'pg_receivewal');
        else this.log.info({ pgReceivewal: line }, 'pg_receivewal');
      }
    });
    // SIGINT is pg_receivewal's clean stop: it flushes the partial segment and exits 0.
    const onStop = () => child.kill('SIGINT');
    stop.addEventListener('abort', onStop, { once: true });
    try {
      return await done;
    } finally {
      stop.removeEventListener('abort', onStop);
      this.child = undefined;
      this.setReceiver(stop.aborted ? 'stopped' : 'restarting');
    }
  }

  // ---- uploads ----------------------------------------------------------------------------------------------

  /**
   * Stores every finished file in the spool (history files first, then segments in order), removing each once
   * stored, then the partial segment when it changed and `partialUploadSeconds` passed (or `final`). False when
   * an upload failed (it is retried on the next pass).
   */
  private async uploadPass(final: boolean): Promise<boolean> {
    if (!this.system) return true;
    const sysid = this.system.systemIdentifier;
    const spool = this.pitr.spoolDir;
    let names: string[];
    try {
      names = (await readdir(spool)).sort();
    } catch (err) {
      throw new OperationError(`spool directory ${spool}: ${errorMessage(err)}`);
    }
    try {
      for (const name of names.filter(isHistoryName)) {
        await this.upload(join(spool, name), walHistoryKey(sysid, name.slice(0, 8)), true);
        await unlink(join(spool, name));
        this.log.info({ history: name }, 'timeline history file stored');
      }
      for (const name of names.filter(isSegmentName)) {
        const stored = await this.upload(join(spool, name), walSegmentKey(sysid, name), true);
        await this.o.store.delete(walSegmentKey(sysid, name, true));
        await unlink(join(spool, name));
        const at = new Date();
        this.lastArchived = { segment: name, at };
        this.m.segments.inc();
        this.m.bytes.inc(stored.size);
        const end = segmentStartLsn(parseSegmentName(name, this.system.walSegmentSize).segno + 1n, this.system.walSegmentSize);
        if (this.archivedLsn === undefined || end > this.archivedLsn) this.archivedLsn = end;
        this.log.debug({ segment: name, bytes: stored.size, stored: stored.storedSize }, 'WAL segment stored');
      }
      const partial = names.filter((n) => n.endsWith('.partial') && isSegmentName(n.slice(0, -'.partial'.length))).at(-1);
      if (partial) {
        const path = join(spool, partial);
        const st = await stat(path).catch(() => undefined);
        const changed = st && (this.lastPartial?.name !== partial || this.lastPartial.mtimeMs !== st.mtimeMs || this.lastPartial.size !== st.size);
        const due = final || Date.now() - this.lastPartialUploadAt >= this.pitr.partialUploadSeconds * 1000;
        if (st && changed && due) {
          const segment = partial.slice(0, -'.partial'.length);
          let stored;
          try {
            stored = await this.upload(path, walSegmentKey(sysid, segment, true), false);
          } catch (err) {
            // pg_receivewal finished the segment and renamed it while we opened it: stored under its final name next pass.
            if (partialRenamedAway(err, path)) return true;
            throw err;
          }
          this.lastPartial = { name: partial, mtimeMs: st.mtimeMs, size: st.size };
          this.lastPartialUploadAt = Date.now();
          this.m.partials.inc();
          const reached = segmentStartLsn(parseSegmentName(segment, this.system.walSegmentSize).segno, this.system.walSegmentSize) + BigInt(stored.filledTo);
          if (this.archivedLsn === undefined || reached > this.archivedLsn) this.archivedLsn = reached;
        }
      }
      this.uploadFailures = 0;
      return true;
    } catch (err) {
      this.uploadFailures++;
      this.m.failures.inc();
      this.lastError = errorMessage(err);
      this.log.error({ err: this.lastError, failuresInARow: this.uploadFailures }, 'storing WAL failed; retrying');
      return false;
    }
  }

  private async upload(path: string, key: string, retain: boolean) {
    const stored = await putWal(this.o.store, key, createReadStream(path), { recipients: this.recipients, level: this.pitr.compressionLevel, retain });
    this.lastUploadAt = new Date();
    return stored;
  }

  // ---- server position and slot -----------------------------------------------------------------------------

  /** Samples the server's flush position and the slot's restart LSN for the lag and retention metrics. */
  private async pollServer(stop: AbortSignal): Promise<void> {
    let conn: ReplicationConnection | undefined;
    while (!stop.aborted) {
      try {
        conn ??= await ReplicationConnection.open(replicationUrl(this.cfg), 10_000);
        const info = await conn.identify();
        const slot = await conn.slot(this.slot);
        const now = Date.now();
        this.serverFlushLsn = info.flushLsn;
        this.samples.push({ t: now, lsn: info.flushLsn });
        // Keep what the lag still needs: samples newer than the stored position, and the last older one.
        const archived = this.archivedRoundedUp();
        while (this.samples.length > 1 && (archived !== undefined && this.samples[1].lsn <= archived || this.samples.length > 10_000)) this.samples.shift();
        this.slotRetained = slot?.restartLsn !== undefined ? Math.max(0, Number(info.flushLsn - slot.restartLsn)) : undefined;
      } catch {
        await conn?.close();
        conn = undefined;
      }
      await sleep(POLL_MS, undefined, { signal: stop }).catch(() => undefined);
    }
    await conn?.close();
  }

  /** The stored position rounded up to the WAL page: a record may end in zero bytes, which look like padding. */
  private archivedRoundedUp(): Lsn | undefined {
    if (this.archivedLsn === undefined) return undefined;
    return ((this.archivedLsn + PAGE - 1n) / PAGE) * PAGE;
  }

  /** Seconds since the server flushed the oldest WAL that is not stored yet; 0 when everything sampled is stored. */
  lagSeconds(): number {
    const archived = this.archivedRoundedUp();
    const first = this.samples.find((s) => archived === undefined || s.lsn > archived);
    return first ? Math.max(0, (Date.now() - first.t) / 1000) : 0;
  }
}

/**
 * True when an upload failed because the partial segment at `path` was gone when it was opened: pg_receivewal renames
 * `X.partial` to `X` when the segment is full. Only that file's own ENOENT counts (an ENOENT of the store, say a
 * missing directory, is a real failure); the store wrapper keeps the fs error as its cause.
 */
export function partialRenamedAway(err: unknown, path: string): boolean {
  return findCause(err, (e) => (e as NodeJS.ErrnoException).code === 'ENOENT' && (e as NodeJS.ErrnoException).path === path) !== undefined;
}

export class ClusterChangedError extends OperationError {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterChangedError';
  }
}
