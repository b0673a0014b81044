import { execFile, spawn } from 'node:child_process';
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { x as untar } from 'tar';
import type { Config } from '../../../config/schema.js';
import { loadSigningPublicKeys } from '../../../config/signing.js';
import { openArtifact } from '../../../repository/artifact-reader.js';
import { listBackups } from '../../../repository/catalog.js';
import { walHistoryKey, walSegmentKey } from '../../../repository/layout.js';
import type { Artifact, Manifest } from '../../../repository/manifest.js';
import type { ObjectStore } from '../../../store/types.js';
import { OperationError, UsageError, errorMessage } from '../../../util/errors.js';
import type { RestoreContext, RestoreItemResult } from '../../restore-context.js';
import type { SourceRestoreResult } from '../../source.js';
import type { PostgresRestoreReport } from '../restore.js';
import { majorOf } from '../tools.js';
import type { BasebackupFacts } from './facts.js';
import { locatePitrTool } from './pg-bin.js';
import { runRecovery, type RecoveryResult } from './recover.js';
import type { PitrRestoreInput, PitrTarget } from './restore-options.js';
import { formatLsn, formatMicros, microsOfDate, parseLsn, parseSegmentName, segnoOfLsn, timelineHex, type Lsn } from './wal-names.js';
import { summariseSegment } from './waldump.js';
import { WalStager, isEmptyOrMissingDir, type Owner } from './wal-stage.js';
import { describeGap, listWal, walChain, type Chain, type SegmentEntry, type WalCatalog } from './wal-store.js';

const run = promisify(execFile);

export type BaseArtifact = Artifact & { facts: BasebackupFacts };

export interface BaseBackupRef {
  backupId: string;
  artifact: BaseArtifact;
  facts: BasebackupFacts;
  /** From when the base backup is consistent: a target must not be before it. */
  stoppedMicros: bigint;
}

export interface BaseWindow {
  base: BaseBackupRef;
  chain: Chain;
  /** Up to when its WAL reaches without a hole (microseconds; the store's time of the last stored piece). */
  endMicros: bigint;
  /** The chain stops at a hole (rather than at the newest WAL). */
  endsAtGap: boolean;
}

/** What a point-in-time recovery can reach: one window per base backup, oldest base first. */
export interface RecoveryWindows {
  sysid: string;
  catalog: WalCatalog;
  windows: BaseWindow[];
}

/**
 * Base backups in Completed backups up to `upTo` (and `upTo` itself whatever its status), oldest first. With
 * signing public keys in `config`, only backups whose manifest signature verifies count (without a config: every
 * readable manifest, as retention wants: it keeps what an untrusted backup would need too).
 */
export async function baseBackups(store: ObjectStore, config: Config | undefined, upTo?: Manifest): Promise<BaseBackupRef[]> {
  const trust = config ? { publicKeys: await loadSigningPublicKeys(config) } : {};
  const manifests = (await listBackups(store, trust)).filter((e) => e.status === 'Completed' && e.manifest && (!upTo || e.id <= upTo.id)).map((e) => e.manifest!);
  if (upTo && !manifests.some((m) => m.id === upTo.id)) manifests.push(upTo);
  const out: BaseBackupRef[] = [];
  for (const m of manifests.sort((a, b) => (a.id < b.id ? -1 : 1))) {
    const a = m.artifacts.find((x) => x.kind === 'pg_basebackup-tar' && x.facts.type === 'postgres-basebackup' && x.verifiedAt) as BaseArtifact | undefined;
    if (a) out.push({ backupId: m.id, artifact: a, facts: a.facts, stoppedMicros: microsOfDate(new Date(a.facts.stoppedAt)) });
  }
  return out;
}

/** For each base backup of the newest one's cluster: how far its WAL reaches without a hole. */
export async function recoveryWindows(store: ObjectStore, bases: BaseBackupRef[]): Promise<RecoveryWindows | undefined> {
  const newest = bases.at(-1);
  if (!newest) return undefined;
  const sysid = newest.facts.systemIdentifier;
  const catalog = await listWal(store, sysid);
  const windows: BaseWindow[] = [];
  for (const base of bases.filter((b) => b.facts.systemIdentifier === sysid)) {
    const f = base.facts;
    const chain = walChain(catalog, f.timeline, segnoOfLsn(parseLsn(f.startLsn), f.walSegmentSize));
    const stopSegno = parseSegmentName(f.stopSegment, f.walSegmentSize).segno;
    const last = chain.segments.at(-1);
    if (!last || last.segno < stopSegno) {
      windows.push({ base, chain, endMicros: -1n, endsAtGap: true });
      continue;
    }
    const endsAtGap = chain.gaps.length > 0;
    // Stored at time U, the last piece holds WAL written until about U. Where a hole follows, the WAL written
    // while it was being stored may be in the missing segment: the one before it bounds the window safely.
    const bound = endsAtGap ? (chain.segments.at(-2) ?? last) : last;
    const info = bound.full ?? bound.partial!;
    const endMicros = endsAtGap && chain.segments.length < 2 ? base.stoppedMicros : microsOfDate(info.lastModified);
    windows.push({ base, chain, endMicros: endMicros < base.stoppedMicros ? base.stoppedMicros : endMicros, endsAtGap });
  }
  return { sysid, catalog, windows };
}

const fmt = (us: bigint) => formatMicros(us);

/** `2026-11-24T01:00:00.000000Z → 2026-11-24T09:30:00.000000Z` for each usable base backup. */
export function describeWindows(w: RecoveryWindows): string {
  const usable = w.windows.filter((x) => x.endMicros >= 0n);
  if (usable.length === 0) return 'no base backup has its WAL in the store';
  const from = usable[0].base.stoppedMicros;
  const to = usable.reduce((m, x) => (x.endMicros > m ? x.endMicros : m), -1n);
  const holes = [...new Set(w.windows.flatMap((x) => x.chain.gaps.map(describeGap)))];
  return `${fmt(from)} → ${fmt(to)}${holes.length ? ` (with holes: ${holes.join('; ')})` : ''}`;
}

export interface PitrPlan {
  window: BaseWindow;
  windows: RecoveryWindows;
  /** WAL the server may ask for: name → key (segments of the chain in order, then history files). */
  plan: Map<string, string>;
  /** A time target the archive has no later transaction for: recover everything instead (the same result). */
  asLatest: boolean;
  newestXactMicros?: bigint;
  /** The start LSN of the newest record the archive holds (recovery to latest must get there). */
  newestRecord?: Lsn;
}

/** How many segments back from the end to look for the newest transaction. */
const XACT_LOOKBACK = 32;

/**
 * Picks the base backup and the WAL for a target, or refuses: a target before the oldest base backup or after
 * the newest archived WAL is bad usage (the error gives the window); a hole in the WAL the target needs is an
 * operation error naming the missing segment.
 */
export async function planPitr(ctx: RestoreContext, input: PitrRestoreInput): Promise<PitrPlan> {
  const bases = await baseBackups(ctx.store, ctx.config, ctx.manifest);
  if (bases.length === 0) {
    throw new UsageError(`backup ${ctx.manifest.id} and the backups before it have no base backup (postgres/base.tar): point-in-time recovery needs sources.postgres.pitr.enabled when they are taken`);
  }
  const windows = (await recoveryWindows(ctx.store, bases))!;
  const usable = windows.windows.filter((w) => w.endMicros >= 0n);
  if (usable.length === 0) {
    const w = windows.windows.at(-1)!;
    throw new OperationError(`cannot recover from any base backup: ${w.chain.gaps[0] ? describeGap(w.chain.gaps[0]) : 'its WAL is not in the store'} (base backup of ${w.base.backupId})`);
  }
  const target = input.target;
  let window: BaseWindow;
  if (target.latest) {
    window = usable.at(-1)!;
    if (window.chain.gaps.length > 0) {
      throw new OperationError(`cannot recover to the latest archived WAL: ${describeGap(window.chain.gaps[0])} from the store (recoverable: ${describeWindows(windows)})`);
    }
  } else {
    const t = target.micros;
    const oldest = usable[0].base.stoppedMicros;
    const reach = usable.reduce((m, x) => (x.endMicros > m ? x.endMicros : m), -1n);
    if (t < oldest) throw new UsageError(`--to-time ${target.text} is before the oldest base backup (consistent from ${fmt(oldest)}): recoverable ${describeWindows(windows)}`);
    const fits = usable.filter((w) => w.base.stoppedMicros <= t && t <= w.endMicros);
    if (fits.length === 0) {
      const gap = usable.filter((w) => w.base.stoppedMicros <= t).at(-1)?.chain.gaps[0];
      if (gap) throw new OperationError(`cannot recover to ${target.text}: ${describeGap(gap)} from the store (recoverable: ${describeWindows(windows)})`);
      throw new UsageError(`--to-time ${target.text} is after the newest archived WAL (${fmt(reach)}): recoverable ${describeWindows(windows)}`);
    }
    window = fits.at(-1)!;
  }
  const { sysid } = windows;
  const plan = new Map<string, string>();
  for (const e of window.chain.segments) plan.set(e.name, walSegmentKey(sysid, e.name, !e.full));
  for (const tli of windows.catalog.histories.keys()) plan.set(`${timelineHex(tli)}.history`, walHistoryKey(sysid, timelineHex(tli)));
  return { window, windows, plan, asLatest: target.latest };
}

/**
 * The newest transaction the WAL from this base backup holds, and its newest record: pg_waldump over the
 * chain's last segments, going back until one with a transaction end.
 */
async function newestInArchive(ctx: RestoreContext, p: PitrPlan, scratchDir: string): Promise<void> {
  const f = p.window.base.facts;
  const tool = await locatePitrTool('pg_waldump', { binDir: ctx.config.drill.binDir, major: majorOf(f.serverVersion) });
  const segs = p.window.chain.segments;
  for (let i = segs.length - 1; i >= 0 && i >= segs.length - XACT_LOOKBACK; i--) {
    const s = await summariseSegment(ctx.store, ctx.identities, p.windows.sysid, segs[i], tool, scratchDir);
    p.newestRecord ??= s.lastRecord;
    if (s.lastXactMicros !== undefined) {
      p.newestXactMicros = s.lastXactMicros;
      return;
    }
  }
}

export interface PitrReport {
  dataDirectory: string;
  owner: string;
  baseBackup: { backup: string; startLsn: string; stopLsn: string; consistentFrom: string };
  target: string;
  /** Recovered everything because the archive has no transaction after the target. */
  recoveredAll: boolean;
  window: string;
  walSegments: number;
  walFetched?: number;
  lastReplayedTransaction?: string;
  recoveryStoppedBefore?: string;
  redoDoneAt?: string;
  newTimeline?: number;
  seconds?: number;
}

export type PitrRestoreReport = PostgresRestoreReport & { pitr: PitrReport };

/**
 * `restore --to-time T --pgdata DIR`: unpacks the newest base backup before T into DIR, replays archived WAL up
 * to T on a private server (no TCP; socket in a 0700 directory; WAL handed over by this process, so the server
 * gets no credentials), waits for it to promote, reports the last replayed transaction time, stops it, and
 * leaves DIR stopped and ready to start, owned by the user who will run it.
 */
export async function restorePitr(ctx: RestoreContext, input: PitrRestoreInput, dryRun = false): Promise<SourceRestoreResult<PitrRestoreReport>> {
  const t0 = Date.now();
  const log = ctx.log.child({ pitr: input.target.latest ? 'latest' : input.target.text });
  const p = await planPitr(ctx, input);
  const base = p.window.base;
  const f = base.facts;
  const owner = await resolveOwner(input.owner);
  const scratch = ctx.scratchDir ?? tmpdir();
  const report: PitrReport = {
    dataDirectory: input.pgdata,
    owner: owner.name,
    baseBackup: { backup: base.backupId, startLsn: f.startLsn, stopLsn: f.stopLsn, consistentFrom: fmt(base.stoppedMicros) },
    target: input.target.latest ? 'latest' : formatTarget(input.target),
    recoveredAll: input.target.latest,
    window: describeWindows(p.windows),
    walSegments: p.window.chain.segments.length,
  };
  const items: RestoreItemResult[] = [];
  const result = () => ({ items, report: { databases: [], globalsRestored: false, items, pitr: report, ...(dryRun ? { dryRun: true } : {}) } });
  if (dryRun) {
    items.push({ item: `base backup of ${base.backupId}`, result: 'would-restore', detail: `into ${input.pgdata} (owner ${owner.name}), WAL ${f.startSegment} on: ${report.walSegments} segments` });
    items.push({ item: `WAL replay to ${report.target}`, result: 'would-restore', detail: `recoverable ${report.window}` });
    return result();
  }
  if (!(await isEmptyOrMissingDir(input.pgdata))) throw new UsageError(`--pgdata ${input.pgdata}: must be a new or empty directory`);
  if (owner.ids) await checkReachable(dirname(input.pgdata), owner);

  await newestInArchive(ctx, p, scratch);
  let target: PitrTarget = input.target;
  if (!target.latest && p.newestXactMicros !== undefined && target.micros >= p.newestXactMicros) {
    // PostgreSQL would stop with "recovery ended before configured recovery target was reached": nothing later
    // was committed that the archive knows of, so everything it holds is what the target asks for.
    log.info({ newestTransaction: fmt(p.newestXactMicros) }, 'no archived transaction after the target: recovering all archived WAL');
    report.recoveredAll = true;
    target = { latest: true };
  }

  const created = !(await stat(input.pgdata).catch(() => undefined));
  const work = await mkdtemp(join(scratch, 'gushen-dr-pitr-'));
  const cleanDir = async () => {
    if (created) await rm(input.pgdata, { recursive: true, force: true });
    else for (const n of await readdir(input.pgdata).catch(() => [])) await rm(join(input.pgdata, n), { recursive: true, force: true });
  };
  try {
    await chmod(work, 0o700);
    if (owner.ids) await chown(work, owner.ids.uid, owner.ids.gid);
    await mkdir(input.pgdata, { recursive: true, mode: 0o700 });
    await chmod(input.pgdata, 0o700);
    log.info({ backup: base.backupId, pgdata: input.pgdata }, 'unpacking the base backup');
    // Streamed: stored hash → decrypt → decompress → plaintext hash → tar. A bad artifact fails at its end and DIR is emptied.
    await pipeline(await openArtifact(ctx.store, base.artifact, ctx.identities), untar({ cwd: input.pgdata, preserveOwner: false, strict: true }), ctx.signal ? { signal: ctx.signal } : {});
    const added = await completeDataDirectory(input.pgdata);
    if (owner.ids) await chownTree(input.pgdata, owner.ids);
    items.push({ item: `base backup of ${base.backupId}`, result: 'restored', detail: `${base.artifact.size} bytes into ${input.pgdata}${added.length ? ` (added ${added.join(', ')}: the backup had none)` : ''}` });

    const stager = new WalStager({ store: ctx.store, identities: ctx.identities, plan: p.plan, dir: join(work, 'wal'), owner: owner.ids, log });
    await stager.prepare();
    stager.start();
    let rec: RecoveryResult;
    try {
      rec = await runRecovery({
        pgdata: input.pgdata,
        postgres: (await locatePitrTool('postgres', { binDir: ctx.config.drill.binDir, major: majorOf(f.serverVersion) })).path,
        socketDir: work,
        owner: owner.ids,
        restoreCommand: stager.restoreCommand(),
        targetTime: target.latest ? undefined : pgTime(target.micros),
        log,
        signal: ctx.signal,
      });
    } catch (err) {
      throw new OperationError(`${errorMessage(err)}${stager.error ? ` (${stager.error.message})` : ''}`, { cause: err });
    } finally {
      await stager.stop();
    }
    if (stager.error) throw new OperationError(`recovery could not fetch WAL: ${stager.error.message}`);
    report.walFetched = stager.served;
    report.lastReplayedTransaction = rec.lastTransaction;
    report.recoveryStoppedBefore = rec.stoppedBefore;
    report.redoDoneAt = rec.redoDoneAt;
    report.newTimeline = rec.newTimeline;
    // Everything archived must have been replayed: recovery that ends early (a segment it could not read) would
    // otherwise look like success.
    if (target.latest && p.newestRecord !== undefined && (rec.redoDoneAt === undefined || parseLsn(rec.redoDoneAt) < p.newestRecord)) {
      throw new OperationError(`recovery ended at ${rec.redoDoneAt ?? 'an unknown position'} but the archive holds WAL up to ${formatLsn(p.newestRecord)}: a stored segment could not be replayed`);
    }
    if (owner.ids) await chownTree(input.pgdata, owner.ids);
    report.seconds = (Date.now() - t0) / 1000;
    items.push({
      item: `WAL replay to ${report.target}`,
      result: 'restored',
      detail: `${report.recoveredAll && !input.target.latest ? 'no archived transaction after the target: all archived WAL; ' : ''}last replayed transaction ${rec.lastTransaction ?? 'none after the base backup'}; ${stager.served} WAL files; new timeline ${rec.newTimeline ?? '?'}`,
    });
    items.push({ item: `data directory ${input.pgdata}`, result: 'created', detail: `stopped, ready to start as ${owner.name} (pg_ctl -D ${input.pgdata} start)` });
    log.info({ lastReplayedTransaction: rec.lastTransaction, seconds: report.seconds }, 'point-in-time recovery done');
    return result();
  } catch (err) {
    await cleanDir().catch(() => undefined);
    throw err;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** PostgreSQL takes `2026-11-24 02:15:30.250000+00` (its check of recovery_target_time refuses `Z`). */
function pgTime(us: bigint): string {
  return formatMicros(us).replace('T', ' ').replace('Z', '+00');
}

function formatTarget(t: Extract<PitrTarget, { latest: false }>): string {
  return `${t.text} (${fmt(t.micros)})`;
}

/** pg_basebackup leaves out nothing PostgreSQL needs, unless the configuration lives outside the data directory (Debian). */
async function completeDataDirectory(dir: string): Promise<string[]> {
  const added: string[] = [];
  const ensure = async (name: string, text: string) => {
    if (await stat(join(dir, name)).catch(() => undefined)) return;
    await writeFile(join(dir, name), text, { mode: 0o600 });
    added.push(name);
  };
  await ensure('postgresql.conf', '# written by gushen-dr restore --to-time: the base backup had no postgresql.conf (it lived outside the data directory)\n');
  await ensure('pg_hba.conf', '# written by gushen-dr restore --to-time: the base backup had none. Local connections by the OS user of the same name only.\nlocal all all peer\n');
  await ensure('pg_ident.conf', '');
  for (const d of ['pg_wal', 'pg_wal/archive_status']) await mkdir(join(dir, d), { recursive: true, mode: 0o700 });
  return added;
}

async function chownTree(path: string, o: Owner): Promise<void> {
  const st = await lstat(path);
  if (!st.isSymbolicLink()) await chown(path, o.uid, o.gid);
  if (st.isDirectory()) for (const n of await readdir(path)) await chownTree(join(path, n), o);
}

/** The server runs as the owner: every directory above DIR must let it through. */
async function checkReachable(parent: string, owner: { name: string; ids?: Owner }): Promise<void> {
  const ok = await new Promise<boolean>((resolve) => {
    const c = spawn('test', ['-x', parent], { uid: owner.ids!.uid, gid: owner.ids!.gid, stdio: 'ignore' });
    c.once('error', () => resolve(false));
    c.once('close', (code) => resolve(code === 0));
  });
  if (!ok) throw new UsageError(`--pgdata: ${owner.name} cannot reach ${parent} (a directory on the way is not searchable by it); choose a place it can reach or change the permissions`);
}

/** The data directory's owner: `--pgdata-owner`, else postgres when root, else the current user. */
async function resolveOwner(name?: string): Promise<{ name: string; ids?: Owner }> {
  if (process.getuid?.() !== 0) return { name: process.env.USER ?? String(process.getuid?.()) };
  const user = name ?? 'postgres';
  try {
    const uid = Number((await run('id', ['-u', user])).stdout.trim());
    const gid = Number((await run('id', ['-g', user])).stdout.trim());
    if (uid === 0) throw new UsageError('--pgdata-owner root: PostgreSQL refuses to run as root; name its service user (default postgres)');
    return { name: user, ids: { uid, gid } };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--pgdata-owner ${user}: no such user on this host (${errorMessage(err).split('\n')[0]})`);
  }
}

export type { SegmentEntry };
