import type { Identity } from '../../crypto/index.js';
import type { Config } from '../../config/schema.js';
import type { Manifest } from '../../repository/manifest.js';
import type { ObjectStore } from '../../store/types.js';
import type { Logger } from '../../util/log.js';
import { resolveBackup } from '../../repository/catalog.js';
import { loadSigningPublicKeys } from '../../config/signing.js';
import type { SigningPublicKey } from '../../crypto/ed25519.js';
import type { RestoreContext } from '../../sources/restore-context.js';
import type { CheckResult, DrillContext, DrillTarget, Source } from '../../sources/source.js';
import { SOURCES, checkManifestSources } from '../../sources/registry.js';
import type { KubeConfig } from '../../sources/shared/kube-client.js';
import { errorMessage } from '../../util/errors.js';
import { removeStaleStageDirs, stageParents } from '../../util/stage-dir.js';
import { drillIdAt, storeReport, type DrillReport, type PhaseName } from './report.js';
import { assertChecksPassed, checkIdentityOpens, storeWriteCheck } from '../check.js';
import type { ArtifactProgress } from '../../repository/artifact-writer.js';
import { withReadProgress } from '../../repository/read-progress.js';

export interface DrillOptions {
  store: ObjectStore;
  config: Config;
  log: Logger;
  identities: Identity[];
  /** Trusted manifest signing keys (default: from the config's `signing`); with any, unsigned manifests are refused. */
  publicKeys?: SigningPublicKey[];
  backup?: string;
  keep?: boolean;
  keepOnFailure?: boolean;
  /** Use this namespace instead of `<prefix><date>` (it must not exist, or carry the drill label). */
  namespace?: string;
  kubeConfig?: KubeConfig;
  scratchDir?: string;
  signal?: AbortSignal;
  now?: () => Date;
  /** For tests: the registry (default: every source gushen-dr knows). */
  registry?: readonly Source<any, any>[];
  /** Reports every artifact read (bars on a terminal, else JSON progress lines). */
  progress?: ArtifactProgress;
}

class PhaseFailure extends Error {
  constructor(
    readonly phase: PhaseName,
    message: string,
  ) {
    super(message);
  }
}

/** `20261124_040000` for names: sortable, valid in namespaces (with - for _) and database names. */
function stamp(at: Date): string {
  return at.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '_');
}

/** A source taking part in this drill, with its scratch target once prepared. */
interface Part {
  source: Source<any, any>;
  ctx: DrillContext;
  target?: DrillTarget;
}

/** The state one drill run carries through its phases. */
class Drill {
  readonly report: DrillReport;
  readonly log: Logger;
  private readonly cleanups: Array<{ what: string; run: () => Promise<void> }> = [];
  readonly t0: Date;
  /** Newer manifests `latest` skipped because their signature is missing or bad: `<id> (<status>)`. */
  untrusted: string[] = [];

  constructor(readonly o: DrillOptions) {
    const now = this.now();
    this.t0 = now;
    const id = drillIdAt(now);
    this.log = o.log.child({ drill: id });
    this.report = {
      id,
      backup: null,
      mode: 'local',
      status: 'Failed',
      startedAt: now.toISOString(),
      finishedAt: now.toISOString(),
      rpoSeconds: null,
      rtoSeconds: null,
      phases: [],
      checks: [],
      transforms: { dropped: [], excluded: [] },
      scratch: { databases: [], servers: {} },
      cleanup: { done: false, kept: false, detail: [] },
    };
  }

  now(): Date {
    return (this.o.now ?? (() => new Date()))();
  }

  secondsSince(t: Date): number {
    return (this.now().getTime() - t.getTime()) / 1000;
  }

  /** Runs `fn` as a named phase: timed, logged, and reported; a throw fails the drill in this phase. */
  async phase<T>(name: PhaseName, fn: () => Promise<T>, detail?: (t: T) => string | undefined): Promise<T> {
    const start = this.now();
    this.log.info({ phase: name }, 'drill phase started');
    try {
      const r = await fn();
      this.report.phases.push({ name, status: 'ok', seconds: this.secondsSince(start), detail: detail?.(r) });
      return r;
    } catch (err) {
      const msg = errorMessage(err);
      this.report.phases.push({ name, status: 'failed', seconds: this.secondsSince(start), detail: msg });
      throw err instanceof PhaseFailure ? err : new PhaseFailure(name, msg);
    }
  }

  cleanup(what: string, run: () => Promise<void>): void {
    this.cleanups.push({ what, run });
  }

  /** Removes everything the drill made, newest first (or keeps it with --keep / --keep-on-failure). */
  async clean(): Promise<void> {
    const keep = this.o.keep || (this.o.keepOnFailure && this.report.status !== 'Passed');
    const start = this.now();
    if (keep) {
      this.report.cleanup = { done: false, kept: true, detail: this.cleanups.map((c) => `kept ${c.what}`) };
      this.report.phases.push({ name: 'cleanup', status: 'skipped', seconds: 0, detail: 'kept' });
      return;
    }
    const detail: string[] = [];
    let ok = true;
    for (const c of [...this.cleanups].reverse()) {
      try {
        await c.run();
        detail.push(`removed ${c.what}`);
      } catch (err) {
        ok = false;
        detail.push(`could not remove ${c.what}: ${errorMessage(err)}`);
      }
    }
    this.report.cleanup = { done: ok, kept: false, detail };
    this.report.phases.push({ name: 'cleanup', status: ok ? 'ok' : 'failed', seconds: this.secondsSince(start), detail: detail.join('; ') });
  }
}

/**
 * The quarterly recovery drill: restores a backup into a scratch environment (namespace, database, Redis), proves
 * the services answer and the data matches the manifest, reports RTO/RPO, and cleans up, also after a failure.
 * Every source in the backup takes part through its drill part, in restore order; a source the backup lacks
 * although the config has it, or one this gushen-dr does not know, fails the drill.
 */
export async function runDrill(o: DrillOptions): Promise<DrillReport> {
  const d = new Drill(o);
  // Decrypted data that a killed restore, drill or deep verify left in the scratch directories goes first.
  await removeStaleStageDirs(stageParents(o.scratchDir ?? o.config.scratchDir), d.log);
  try {
    const manifest = await d.phase(
      'select',
      () => selectBackup(d),
      (m) => (d.untrusted.length > 0 ? `${m.id}; skipped, not trusted: ${d.untrusted.join(', ')}` : m.id),
    );
    const parts = await d.phase('scratch', () => prepareParts(d, manifest), (ps) => ps.map((p) => p.target!.describe).join(', ') || 'nothing to drill');
    await restoreParts(d, parts);
    // A part that recovered closer to now than the backup's age (PostgreSQL point-in-time recovery) sets the RPO.
    for (const p of parts) {
      const rpo = p.target!.rpoSeconds?.();
      if (rpo !== undefined && (d.report.rpoSeconds === null || rpo < d.report.rpoSeconds)) {
        d.report.rpoSeconds = rpo;
        d.report.rpoBasis = `${p.source.name}: newest recovered commit`;
      }
    }
    for (const p of parts) await p.target!.ready?.();
    await d.phase('data', () => checkData(d, parts), (n) => `${n} checks equal`);
    d.report.status = 'Passed';
    d.report.rtoSeconds = d.secondsSince(d.t0);
  } catch (err) {
    const phaseName = err instanceof PhaseFailure ? err.phase : 'select';
    d.report.failure = { phase: phaseName, error: errorMessage(err) };
    d.log.error({ phase: phaseName, err: errorMessage(err) }, 'drill failed');
  } finally {
    await d.clean();
    d.report.finishedAt = d.now().toISOString();
    try {
      await storeReport(o.store, d.report);
    } catch (err) {
      d.log.error({ err: errorMessage(err) }, 'could not store the drill report');
    }
  }
  return d.report;
}

/**
 * The backup to drill (default: latest Completed). Its sources must all be known to this gushen-dr, and every
 * configured source must be in it: a drill that passes without a source's data would prove nothing about it.
 */
async function selectBackup(d: Drill): Promise<Manifest> {
  const registry = d.o.registry ?? SOURCES;
  const configured = registry.map((s) => s.name).filter((n) => (d.o.config.sources as Record<string, unknown>)[n] !== undefined);
  const manifest = await resolveBackup(d.o.store, d.o.backup ?? 'latest', {
    requireCompleted: true,
    // `latest`: the newest Completed backup holding every configured source (a `backup --only` run may not).
    sources: configured,
    publicKeys: d.o.publicKeys ?? (await loadSigningPublicKeys(d.o.config)),
    onUntrusted: (e) => {
      d.untrusted.push(`${e.id} (${e.status})`);
      d.log.warn({ backup: e.id, status: e.status, problem: e.problem }, 'newer backup skipped: its manifest is not trusted');
    },
  });
  // The report names the backup the drill chose even when a check below fails on it.
  d.report.backup = manifest.id;
  checkManifestSources(manifest, registry);
  // Before any scratch server or namespace: the identity opens this backup, and the store takes the report at the end.
  checkIdentityOpens(d.o.identities, manifest);
  assertChecksPassed([await storeWriteCheck(d.o.store, d.o.signal)], 'the drill could not store its report');
  const inBackup = new Set<string>(manifest.artifacts.map((a) => a.source));
  const missing = registry.filter((s) => (d.o.config.sources as Record<string, unknown>)[s.name] !== undefined && !inBackup.has(s.name)).map((s) => s.name);
  if (missing.length > 0) throw new Error(`backup ${manifest.id} has no artifact of the configured source(s) ${missing.join(', ')}: the drill would not prove them`);
  d.report.rpoSeconds = (d.t0.getTime() - Date.parse(manifest.startedAt)) / 1000;
  d.report.rpoBasis = 'age of the backup';
  return manifest;
}

/** Each source in the backup prepares its scratch target, in restore order; later ones see earlier ones' variables. */
async function prepareParts(d: Drill, manifest: Manifest): Promise<Part[]> {
  const registry = d.o.registry ?? SOURCES;
  const restore: RestoreContext = {
    store: withReadProgress(d.o.store, manifest.artifacts, d.o.progress),
    manifest,
    identities: d.o.identities,
    config: d.o.config,
    log: d.log,
    scratchDir: d.o.scratchDir ?? d.o.config.scratchDir,
    signal: d.o.signal,
  };
  const vars: Record<string, string> = {};
  const parts: Part[] = [];
  for (const source of registry) {
    const artifacts = manifest.artifacts.filter((a) => a.source === source.name);
    if (artifacts.length === 0) continue;
    const ctx: DrillContext = {
      restore,
      config: d.o.config,
      artifacts,
      stamp: stamp(d.t0),
      drillId: d.report.id,
      options: { namespace: d.o.namespace, kubeConfig: d.o.kubeConfig },
      vars,
      phase: (name, fn, detail) => d.phase(name, fn, detail),
      record: (checks) => d.report.checks.push(...checks),
      cleanup: (what, run) => d.cleanup(what, run),
    };
    const target = await source.drill.prepare(ctx);
    if (!target) {
      d.log.info({ source: source.name }, 'source does not take part in this drill');
      continue;
    }
    Object.assign(vars, target.vars);
    recordScratch(d.report, source.name, target);
    parts.push({ source, ctx, target });
  }
  if (parts.length === 0) throw new Error(`backup ${manifest.id}: no source can take part in a drill`);
  return parts;
}

function recordScratch(report: DrillReport, name: string, t: DrillTarget): void {
  if (t.mode === 'kubernetes') report.mode = 'kubernetes';
  if (t.scratch.namespace) report.scratch.namespace = t.scratch.namespace;
  if (t.scratch.databases) report.scratch.databases.push(...t.scratch.databases);
  if (t.scratch.server) report.scratch.servers[name] = t.scratch.server;
}

/** Every part restores into its scratch target, in restore order, with every part's variables. */
async function restoreParts(d: Drill, parts: Part[]): Promise<void> {
  const vars = Object.assign({}, ...parts.map((p) => p.target!.vars)) as Record<string, string>;
  for (const p of parts) {
    try {
      await p.target!.restore(vars);
    } finally {
      // What the drill left out on purpose is reported also when a later phase fails.
      const t = p.target!.transforms;
      if (t) {
        d.report.transforms.dropped.push(...t.dropped);
        d.report.transforms.excluded.push(...t.excluded);
      }
    }
  }
}

/** Every part's data checks against the manifest; any mismatch fails the data phase. */
async function checkData(d: Drill, parts: Part[]): Promise<number> {
  const checks: CheckResult[] = [];
  for (const p of parts) {
    checks.push(...(await p.target!.checks()));
  }
  d.report.checks.push(...checks);
  const bad = checks.filter((c) => !c.ok);
  if (bad.length > 0) throw new PhaseFailure('data', bad.map((c) => `${c.name}: ${c.detail ?? `expected ${c.expected}, got ${c.actual}`}`).join('; '));
  return checks.length;
}
