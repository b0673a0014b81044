import type { z } from 'zod';
import type { Config, SourceName } from '../config/schema.js';
import type { Artifact, Failure, Manifest } from '../repository/manifest.js';
import type { ArtifactWriter } from '../repository/artifact-writer.js';
import type { Logger } from '../util/log.js';
import type { RestoreContext, RestoreItemResult } from './restore-context.js';

/**
 * The one shape every source has. A source is everything gushen-dr knows about one kind of thing it backs up
 * (Kubernetes manifests, a PostgreSQL server, a Redis): its config, the facts its artifacts carry in the
 * manifest, how it backs up, deep-verifies, restores and takes part in a drill. The engine (src/engine/) runs
 * these members in generic loops over the registry (src/sources/registry.ts), which is the one place listing
 * the sources: a source added there is backed up, verified, restored and drilled with no change to the engine,
 * and the compiler refuses a source that lacks a member.
 */
export interface Source<RestoreOptions = unknown, RestoreReport = unknown> {
  /** Its key under `sources:` in the config, in artifact names (`<name>/<file>`) and in `--only`. */
  readonly name: SourceName;
  /** What it is, for people: "PostgreSQL". */
  readonly title: string;
  /** Its `sources.<name>` config section (zod; strict: unknown keys are errors). */
  readonly configSchema: z.ZodType;
  /** The facts each of its artifacts carries in the manifest (row counts, keys per db, objects per kind...). */
  readonly factsSchema: z.ZodType;
  /** The plaintext kinds of its artifacts, i.e. which standard tool reads them (docs/format.md). */
  readonly artifactKinds: readonly string[];
  /** Where it goes in a whole restore and in a drill: lower first (Kubernetes, creating namespaces and Secrets, is 10). */
  readonly restoreOrder: number;

  /**
   * Optional. Checks what a backup of this source needs before anything happens: the engine calls it for every
   * source of the run before the lock, the first store write and the first source's start (no BGSAVE, no dump).
   * Files it needs exist, URLs parse, and a server without which it cannot run answers where that is cheap (the
   * Kubernetes API's /version, with a short timeout). Throws a UsageError (exit 2) for bad configuration and an
   * OperationError (exit 1) for a server that does not answer. No side effects.
   */
  validate?(config: Config, signal?: AbortSignal): Promise<void>;

  /**
   * Optional. Its rows of `gushen-dr check` (src/engine/check.ts), also run at the start of a backup, restore and
   * drill: whether what `ctx.command` needs of this source is there (servers answer, the credentials have the
   * rights, the tools are of a version that works). Each problem is a `failed` row naming the thing; what cannot be
   * checked here is `skipped` with the reason. Never throws for a failed check, never changes anything.
   */
  check?(ctx: CheckContext): Promise<CheckRow[]>;

  /** Writes this source's artifacts through `ctx.writer`. Throws when it cannot run at all. */
  backup(ctx: BackupContext): Promise<BackupResult>;
  /**
   * Optional. When true, the engine calls `backup` while it is still acquiring the backup lock (whose settle delay
   * is a second of waiting), and the source may only read until `ctx.held` resolves: connect, export a snapshot,
   * read versions and sizes. Its first side effect on what it backs up (a dump, a BGSAVE) and its first store write
   * wait for `ctx.held`, which rejects when the lock is not won.
   */
  readonly startsBeforeLock?: boolean;

  /** Decrypts one of its artifacts and runs the source's own check of the plaintext (pg_restore --list, RDB CRC64, tar index). Throws on any problem. */
  deepVerify(ctx: RestoreContext, artifact: Artifact): Promise<void>;

  /** The flags it adds to `gushen-dr restore` (commander syntax, long names unique across sources). */
  readonly restoreFlags: readonly RestoreFlag[];
  /**
   * Turns the parsed restore flags (by camel-cased long name) into this source's restore options; throws a
   * UsageError naming what is wrong. Called for every restored source before anything is touched.
   */
  restoreOptions(flags: Readonly<Record<string, unknown>>, common: CommonRestoreFlags): RestoreOptions;
  /** Throws a UsageError when these options cannot restore `manifest` (a missing target, say); no side effects. */
  checkRestoreOptions(manifest: Manifest, options: RestoreOptions, config: Config): void;
  /**
   * Which of its artifacts must be read completely (size, SHA-256, decryption) before anything at all is
   * restored. `first` is true when this source is the first restored: its own restore then verifies what it
   * stages before applying it, so only what it would stream into the target unverified needs checking.
   */
  artifactsToCheckFirst(manifest: Manifest, options: RestoreOptions, first: boolean): Artifact[];
  /** Restores its artifacts of `ctx.manifest` into the target the options name; with `dryRun` changes nothing. */
  restore(ctx: RestoreContext, options: RestoreOptions): Promise<SourceRestoreResult<RestoreReport>>;

  /** Its part in a recovery drill. */
  readonly drill: DrillPart;
}

/**
 * Each source's restore options and report types, by source name. Empty here: each source adds its entry by
 * declaration merging in its index.ts, so that `runRestore({ postgres: {...} })` is typed without the engine
 * naming a source.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface SourceRestoreTypes {}

/** One row of `gushen-dr check`: `postgres privileges gushen`, ok/failed/skipped, what was found. */
export interface CheckRow {
  check: string;
  status: 'ok' | 'failed' | 'skipped';
  detail: string;
}

/** The commands whose needs `gushen-dr check` checks (a drill needs more of Kubernetes than a backup). */
export type CheckedCommand = 'backup' | 'restore' | 'drill';

/** What the check engine hands a source's `check`. */
export interface CheckContext {
  config: Config;
  command: CheckedCommand;
  log: Logger;
  signal?: AbortSignal;
  /** The newest Completed backup, when the store has one: what a restore or drill would read (versions to compare). */
  latest?: Manifest;
}

/** What the backup engine hands a source. */
export interface BackupContext {
  backupId: string;
  config: Config;
  writer: ArtifactWriter;
  log: Logger;
  signal: AbortSignal;
  /**
   * Resolves once the backup lock is held and the run may change things; rejects when it is not won. Already
   * resolved (or absent, outside the engine) unless the source `startsBeforeLock`.
   */
  held?: Promise<void>;
}

/**
 * What one source produced. A source that cannot run at all throws; one that produced some artifacts
 * and failed others returns the failures alongside (the backup is then PartiallyFailed).
 */
export interface BackupResult {
  artifacts: Artifact[];
  failures: Failure[];
}

/** A source's backup step alone (tests replace it to plant failures). */
export type BackupFn = (ctx: BackupContext) => Promise<BackupResult>;

/** One `gushen-dr restore` flag a source adds. */
export interface RestoreFlag {
  /** Commander syntax: `--pg-url <url>`, `--with-globals`, `--no-wait`. */
  flags: string;
  description: string;
  default?: string | boolean;
}

/** Restore flags every source shares. */
export interface CommonRestoreFlags {
  force: boolean;
  dryRun: boolean;
}

export interface SourceRestoreResult<Report = unknown> {
  /** One line per restored thing, for the summary table. */
  items: RestoreItemResult[];
  /** The source's own report (tables and rows, keys per db, objects per kind). */
  report: Report;
}

/**
 * A source's part in a drill. The engine prepares every taking part in `restoreOrder`, then restores them in
 * the same order, then waits for each to be ready, then runs every data check; cleanups run in reverse.
 */
export interface DrillPart {
  /**
   * Creates this source's scratch target (throwaway server, scratch namespace, database name) for the backup's
   * artifacts, registering its removal with `ctx.cleanup`. Returns undefined when the source does not take part
   * (for Kubernetes: no cluster to drill into).
   */
  prepare(ctx: DrillContext): Promise<DrillTarget | undefined>;
}

export interface DrillContext {
  restore: RestoreContext;
  config: Config;
  /** This source's artifacts in the drilled backup (at least one). */
  artifacts: Artifact[];
  /** `20261124_040000`: for scratch names (databases; namespaces with `-`). */
  stamp: string;
  drillId: string;
  /** Options the operator gave the drill command (`namespace`, `kubeConfig`). */
  options: Readonly<Record<string, unknown>>;
  /** Variables offered by the parts prepared before this one (`namespace`, ...). */
  vars: Readonly<Record<string, string>>;
  /** Runs `fn` as a named phase of the drill report (timed; a throw fails the drill in that phase). */
  phase<T>(name: string, fn: () => Promise<T>, detail?: (t: T) => string | undefined): Promise<T>;
  /** Adds checks to the report as they are made (the data checks are added by the engine). */
  record(checks: CheckResult[]): void;
  /** Registers something to remove when the drill ends (unless --keep); run in reverse order. */
  cleanup(what: string, run: () => Promise<void>): void;
}

export interface DrillTarget {
  /** Variables for the other parts (`database`, `pgUrl`, `redisUrl`, `namespace`): drill.env and drill.secretData placeholders. */
  vars: Record<string, string>;
  /** What the drill report shows about the scratch environment. */
  scratch: DrillScratch;
  /** The phase detail of the scratch phase: `postgres throwaway`. */
  describe: string;
  /** `kubernetes` when the drill runs workloads in a cluster. */
  mode?: 'kubernetes';
  /** Restores the artifacts into the scratch target, in its own phase(s); `vars` holds every part's variables. */
  restore(vars: Readonly<Record<string, string>>): Promise<void>;
  /** After every restore: waits for the restored thing to serve (rollouts, health checks), in its own phase(s). */
  ready?(): Promise<void>;
  /**
   * After the restore: the recovery point this part reached, in seconds before the drill started, when it is not
   * simply the backup's age (PostgreSQL point-in-time recovery replays WAL archived after the backup).
   */
  rpoSeconds?(): number | undefined;
  /** Data checks of the restored target against the manifest's facts. */
  checks(): Promise<CheckResult[]>;
  /** Objects the drill left out on purpose (for the report). */
  transforms?: { dropped: Array<{ item: string; by: string }>; excluded: Array<{ item: string; reason: string }> };
}

export interface DrillScratch {
  namespace?: string;
  databases?: string[];
  /** `throwaway` (started for the drill) or `configured` (drill.<source>.url). */
  server?: 'throwaway' | 'configured';
}

/** One check of a drill: a count, a health answer. */
export interface CheckResult {
  /** The source (or `health`) it belongs to. */
  kind: string;
  name: string;
  ok: boolean;
  expected?: string | number;
  actual?: string | number;
  detail?: string;
}
