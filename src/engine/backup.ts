import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import type { Config, SourceName } from '../config/schema.js';
import { loadRecipients } from '../config/keys.js';
import { loadSigningKey } from '../config/signing.js';
import { backupId, backupLogKey, backupPrefix, type Schedule } from '../repository/layout.js';
import { FORMAT_VERSION, type Artifact, type Failure, type Manifest } from '../repository/manifest.js';
import { writeManifest } from '../repository/manifest-signature.js';
import type { ObjectStore } from '../store/types.js';
import { verifyStoredArtifact } from '../repository/artifact-reader.js';
import { ArtifactWriter, type ArtifactProgress } from '../repository/artifact-writer.js';
import { acquireLock, type HeldLock } from '../repository/lock.js';
import type { BackupFn, Source } from '../sources/source.js';
import { SOURCES, checkManifestSources } from '../sources/registry.js';
import { OperationError, UsageError, errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { LogSession } from '../util/log-capture.js';
import { mapLimit } from '../util/concurrency.js';
import { TOOL_VERSION } from '../version.js';

export interface BackupRunOptions {
  config: Config;
  store: ObjectStore;
  schedule: Schedule;
  only?: SourceName[];
  log: Logger;
  signal?: AbortSignal;
  progress?: ArtifactProgress;
  /** For tests: replace a source's backup step (to plant a failure). */
  backupFns?: Partial<Record<SourceName, BackupFn>>;
  /** For tests: the registry (default: every source gushen-dr knows). */
  registry?: readonly Source<any, any>[];
  now?: () => Date;
  /** The command's log capture: what it collects during the run is stored as the backup's log.jsonl, before the manifest. */
  logCapture?: { begin(): LogSession };
}

/** Which configured sources this run covers; naming an unconfigured one is bad usage. */
export function selectSources(config: Config, only?: SourceName[], registry: readonly Source<any, any>[] = SOURCES): SourceName[] {
  const names = registry.map((s) => s.name);
  const configured = names.filter((s) => (config.sources as Record<string, unknown>)[s] !== undefined);
  // A restore-only config (no `sources`) loads for restore, verify, list and drill; a backup has nothing to do.
  if (configured.length === 0) throw new UsageError(`no source is configured: add sources.${names.join(', sources.')} to the config to back anything up`);
  if (!only || only.length === 0) return configured;
  for (const s of only) {
    if (!names.includes(s)) throw new UsageError(`--only: unknown source "${s}" (expected ${names.join(', ')})`);
    if (!configured.includes(s)) throw new UsageError(`--only ${s}: sources.${s} is not configured`);
  }
  return configured.filter((s) => only.includes(s));
}

/**
 * One backup set: lock, run the sources concurrently, read every artifact back and check it,
 * then write the manifest, last. Only a run where everything passed is Completed.
 */
export async function runBackup(opts: BackupRunOptions): Promise<Manifest> {
  const session = opts.logCapture?.begin();
  try {
    return await backupSet(opts, session);
  } finally {
    session?.end();
  }
}

async function backupSet(opts: BackupRunOptions, session: LogSession | undefined): Promise<Manifest> {
  const { config, store, log } = opts;
  const now = opts.now ?? (() => new Date());
  const registry = opts.registry ?? SOURCES;
  const sources = selectSources(config, opts.only, registry);
  const recipients = await loadRecipients(config);
  // Before the lock and any object: a missing or wrong signing key is bad configuration (exit 2), not a failed run.
  const signing = await loadSigningKey(config);
  const callerSignal = opts.signal ?? new AbortController().signal;
  // Everything that can be checked is checked before the first side effect (lock claim, store write, BGSAVE).
  for (const s of registry.filter((r) => sources.includes(r.name))) await s.validate?.(config, callerSignal);
  if (config.backup.lockTtlSeconds !== undefined) {
    log.warn({ lockTtlSeconds: config.backup.lockTtlSeconds }, 'backup.lockTtlSeconds is the old name of backup.lockLeaseSeconds (default 120): a killed run blocks retries for one lease');
  }

  const startedAt = now();
  const id = backupId(startedAt, opts.schedule);
  const writer = new ArtifactWriter(store, id, recipients, opts.progress);
  // A lost lock (its lease could not be renewed) stops the sources like an interrupt: the backup is not Completed.
  const lost = new AbortController();
  const signal = AbortSignal.any([callerSignal, lost.signal]);
  let lock: HeldLock | undefined;
  // The lock's settle delay is a second of waiting: a source that startsBeforeLock reads meanwhile (connects, exports
  // its snapshot) and changes nothing until `held`; every other source starts only once it resolves.
  const held = (async () => {
    lock = await acquireLock(store, { purpose: `backup (${opts.schedule})`, leaseSeconds: config.backup.lockLeaseSeconds, log, now });
    const lockLost = lock.lost;
    lockLost.addEventListener('abort', () => lost.abort(lockLost.reason), { once: true });
    if ((await store.list(backupPrefix(id))).length > 0) {
      throw new OperationError(`backup ${id} already exists in ${store.description}; wait a second and run again`);
    }
    log.info({ backup: id, sources, store: store.description }, 'backup started');
  })();
  let notHeld = false;
  held.catch(() => (notHeld = true));
  const artifacts: Artifact[] = [];
  const failures: Failure[] = [];
  const runs = mapLimit(sources, config.backup.concurrency, async (name) => {
    const t0 = Date.now();
    try {
      const source = registry.find((s) => s.name === name)!;
      const backup = opts.backupFns?.[name] ?? source.backup;
      if (opts.backupFns?.[name] || !source.startsBeforeLock) await held;
      const result = await backup({ backupId: id, config, writer, log: log.child({ source: name }), signal, held });
        artifacts.push(...result.artifacts);
        failures.push(...result.failures);
        for (const f of result.failures) log.error({ source: name, artifact: f.artifact, err: f.error }, 'artifact failed');
      log.info({ source: name, artifacts: result.artifacts.length, seconds: (Date.now() - t0) / 1000 }, 'source finished');
    } catch (err) {
      if (notHeld) return; // the lock was not won: runBackup throws that, below
      failures.push({ source: name, error: errorMessage(err) });
      log.error({ source: name, err: errorMessage(err) }, 'source failed');
    }
  });
  try {
    await held;
  } catch (err) {
    await runs;
    await lock?.release().catch((e: unknown) => log.error({ err: errorMessage(e) }, 'could not release the backup lock'));
    throw err;
  }
  try {
    await runs;

    // Verify after write: nothing is Completed until every stored object was read back and matched.
    const verified: Artifact[] = [];
    for (const a of artifacts.sort((x, y) => (x.name < y.name ? -1 : 1))) {
      try {
        await verifyStoredArtifact(store, a);
        verified.push({ ...a, verifiedAt: now().toISOString() });
      } catch (err) {
        failures.push({ source: a.source, artifact: a.name, error: errorMessage(err) });
        log.error({ artifact: a.name, err: errorMessage(err) }, 'read-back verification failed');
        verified.push(a);
      }
    }
    if (signal.aborted) {
      failures.push({ source: sources[0], error: `interrupted: ${errorMessage(signal.reason ?? 'aborted')}` });
    }

    const status: Manifest['status'] =
      failures.length === 0 && verified.length > 0 ? 'Completed' : verified.some((a) => a.verifiedAt) ? 'PartiallyFailed' : 'Failed';
    const manifest: Manifest = {
      formatVersion: FORMAT_VERSION,
      id,
      schedule: opts.schedule,
      status,
      startedAt: startedAt.toISOString(),
      finishedAt: now().toISOString(),
      tool: { name: 'gushen-dr', version: TOOL_VERSION },
      host: hostname(),
      sources,
      artifacts: verified,
      failures,
    };
    // A source's facts that its own schema refuses would make the backup unrestorable: fail now, not at restore time.
    checkManifestSources(manifest, registry);
    log.info({ backup: id, status, artifacts: verified.length, failures: failures.length }, 'writing the manifest');
    // The run's own log, redacted (src/util/log-capture.ts), before the manifest: not an artifact, never signed.
    if (session) {
      await store
        .put(backupLogKey(id), Readable.from([Buffer.from(session.text())]), { retain: true, signal: callerSignal })
        .catch((err: unknown) => log.error({ key: backupLogKey(id), err: errorMessage(err) }, 'could not store the backup log'));
    }
    // Signature first, manifest last (src/repository/manifest-signature.ts): the manifest alone marks it finished.
    await writeManifest(store, manifest, signing);
    log.info({ backup: id, status, artifacts: verified.length, failures: failures.length, signedBy: signing?.publicKey.fingerprint }, 'backup finished');
    return manifest;
  } finally {
    await lock!.release().catch((err: unknown) => log.error({ err: errorMessage(err) }, 'could not release the backup lock'));
  }
}
