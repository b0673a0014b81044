import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Identity } from '../crypto/index.js';
import type { Config, SourceName } from '../config/schema.js';
import type { Artifact, Manifest } from '../repository/manifest.js';
import type { ObjectStore } from '../store/types.js';
import type { Logger } from '../util/log.js';
import { OperationError, UsageError, errorMessage } from '../util/errors.js';
import type { RestoreContext, RestoreItemResult } from '../sources/restore-context.js';
import type { Source, SourceRestoreTypes } from '../sources/source.js';
import { SOURCES, checkManifestSources } from '../sources/registry.js';
import { openArtifact } from '../repository/artifact-reader.js';
import { removeStaleStageDirs, stageParents } from '../util/stage-dir.js';
import { checkIdentityOpens } from './check.js';
import type { ArtifactProgress } from '../repository/artifact-writer.js';
import { withReadProgress } from '../repository/read-progress.js';

type OptionsBySource = { [K in keyof SourceRestoreTypes]?: SourceRestoreTypes[K] extends { options: infer O } ? O : never };
type ReportsBySource = { [K in keyof SourceRestoreTypes]?: SourceRestoreTypes[K] extends { report: infer R } ? R : never };

/** A restore: the backup, the parts, and each part's options under its source's name (`postgres: { pgUrl }`). */
export type RestoreRunOptions = OptionsBySource & {
  store: ObjectStore;
  manifest: Manifest;
  identities: Identity[];
  config: Config;
  log: Logger;
  only?: SourceName[];
  scratchDir?: string;
  signal?: AbortSignal;
  /** For tests: the registry (default: every source gushen-dr knows). */
  registry?: readonly Source<any, any>[];
  /** Reports every artifact read (bars on a terminal, else JSON progress lines). */
  progress?: ArtifactProgress;
};

/** Each restored source's own report under its name, and every item line. */
export type RestoreRunReport = ReportsBySource & {
  backup: string;
  items: RestoreItemResult[];
  failed: number;
};

/**
 * Checks every part and target the restore needs before touching any, then restores the chosen parts in the
 * sources' restore order (Kubernetes first: namespaces, Secrets; then the data). A whole restore covers every
 * source the backup holds; one this gushen-dr does not know fails it before anything is restored.
 */
export async function runRestore(opts: RestoreRunOptions): Promise<RestoreRunReport> {
  const registry = opts.registry ?? SOURCES;
  const { manifest } = opts;
  checkManifestSources(manifest, registry);
  const inBackup = new Set<string>(manifest.artifacts.map((a) => a.source));
  const wanted = opts.only && opts.only.length > 0 ? opts.only : [...inBackup];
  for (const name of wanted) {
    if (!registry.some((s) => s.name === name)) throw new UsageError(`--only ${name}: no such source (expected ${registry.map((s) => s.name).join(', ')})`);
    if (!inBackup.has(name)) throw new UsageError(`--only ${name}: backup ${manifest.id} has no ${name} artifact`);
  }
  const parts = registry.filter((s) => wanted.includes(s.name));
  const optionsOf = (s: Source<any, any>): unknown => (opts as Record<string, unknown>)[s.name] ?? {};
  for (const s of parts) s.checkRestoreOptions(manifest, optionsOf(s), opts.config);
  // The wrong key is bad configuration, said before anything is read or restored (not after Kubernetes went first).
  checkIdentityOpens(opts.identities, { ...manifest, artifacts: manifest.artifacts.filter((a) => wanted.includes(a.source)) });
  // Decrypted data that a killed restore, drill or deep verify left in the scratch directories goes first.
  await removeStaleStageDirs(stageParents(opts.scratchDir ?? opts.config.scratchDir), opts.log);

  const ctx: RestoreContext = {
    store: withReadProgress(opts.store, manifest.artifacts, opts.progress),
    manifest,
    identities: opts.identities,
    config: opts.config,
    log: opts.log,
    scratchDir: opts.scratchDir,
    signal: opts.signal,
  };
  await checkArtifactsBeforeRestore(ctx, parts.flatMap((s, i) => s.artifactsToCheckFirst(manifest, optionsOf(s), i === 0)));

  const report = { backup: manifest.id, items: [], failed: 0 } as RestoreRunReport;
  for (const s of parts) {
    const result = await s.restore(ctx, optionsOf(s));
    (report as Record<string, unknown>)[s.name] = result.report;
    report.items.push(...result.items);
  }
  report.failed = report.items.filter((i) => i.result === 'failed').length;
  return report;
}

/**
 * Reads these artifacts once, completely, before any target is touched: stored size and
 * SHA-256, decryption with the given identities, plaintext size and SHA-256. A truncated, swapped or tampered
 * artifact, an edited manifest or the wrong key then fails the restore with nothing restored — instead of after
 * the parts restored before it (Kubernetes goes first), or after a streamed pg_restore applied most of a bad dump.
 * It costs one extra read and decryption of the artifacts (no disk space).
 */
async function checkArtifactsBeforeRestore(ctx: RestoreContext, artifacts: Artifact[]): Promise<void> {
  if (artifacts.length === 0) return;
  const t0 = Date.now();
  for (const a of artifacts) {
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    try {
      await pipeline(await openArtifact(ctx.store, a, ctx.identities), sink, ctx.signal ? { signal: ctx.signal } : {});
    } catch (err) {
      const msg = errorMessage(err);
      throw new OperationError(msg.startsWith(`artifact ${a.name}`) ? msg : `artifact ${a.name} (${a.key}): ${msg}`, { cause: err });
    }
  }
  ctx.log.info({ artifacts: artifacts.map((a) => a.name), seconds: (Date.now() - t0) / 1000 }, 'artifacts verified (size, SHA-256, decryption) before restoring anything');
}
