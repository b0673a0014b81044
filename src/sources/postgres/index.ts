import type { Artifact, Manifest } from '../../repository/manifest.js';
import { UsageError } from '../../util/errors.js';
import { readPasswordFile } from '../../util/password-file.js';
import { redactUrl } from '../../util/redact.js';
import type { Source, SourceRestoreResult } from '../source.js';
import { postgresConfigSchema } from './config.js';
import { checkPitrRestoreInput, pitrRestoreInput, type PitrRestoreInput } from './pitr/restore-options.js';
import { postgresArtifactFactsSchema } from './facts.js';
import type { PostgresRestoreOptions, PostgresRestoreReport } from './restore.js';

/** `gushen-dr restore` options for PostgreSQL: the target server may be missing until checked. */
export type PostgresRestoreInput = Omit<PostgresRestoreOptions, 'pgUrl'> & { pgUrl?: string; dryRun?: boolean; pitr?: PitrRestoreInput };

declare module '../source.js' {
  interface SourceRestoreTypes {
    postgres: { options: PostgresRestoreInput; report: PostgresRestoreReport };
  }
}

/**
 * PostgreSQL: one `pg_dump -Fc` per configured database (inside an exported snapshot, with exact row counts
 * in the manifest) and the roles as `pg_dumpall --globals-only` SQL.
 */
export const postgresSource = {
  name: 'postgres' as const,
  title: 'PostgreSQL',
  configSchema: postgresConfigSchema,
  factsSchema: postgresArtifactFactsSchema,
  artifactKinds: ['pg_dump-custom', 'pg_dumpall-globals-sql', 'pg_basebackup-tar'],
  restoreOrder: 20,
  validate: async (config) => (await import('./preflight.js')).preflightPostgres(config),
  // gushen-dr check: the databases answer, the user may read every table, pg_dump/pg_restore fit (check.ts).
  check: async (ctx) => (await import('./check.js')).checkPostgres(ctx),
  // Connecting and exporting the snapshot overlap the lock's settle delay; pg_dump waits for ctx.held (backup.ts).
  startsBeforeLock: true,
  // With pitr.enabled the dumps are joined by a base backup for point-in-time recovery (pitr/basebackup.ts).
  backup: async (ctx) => (await import('./pitr/basebackup.js')).addBaseBackup(ctx, await (await import('./backup.js')).backupPostgres(ctx)),
  deepVerify: async (ctx, a) =>
    a.kind === 'pg_basebackup-tar' ? (await import('./pitr/basebackup.js')).deepVerifyBasebackup(ctx, a) : (await import('./restore.js')).deepVerifyPostgres(ctx, a),
  restoreFlags: [
    { flags: '--pg-url <url>', description: 'PostgreSQL server to restore into (no password here: it would show in the process list)' },
    { flags: '--pg-password-file <file>', description: "file holding the --pg-url server's password (else PGPASSWORD or PGPASSFILE)" },
    { flags: '--database <name>', description: 'target database name' },
    { flags: '--source-database <name>', description: 'which backed-up database to restore' },
    { flags: '--jobs <n>', description: 'parallel pg_restore jobs' },
    { flags: '--with-globals', description: 'also restore roles from the globals artifact' },
    { flags: '--to-time <time>', description: 'point-in-time recovery to an ISO-8601 time with its zone, or "latest" (needs --pgdata; base backup + archived WAL)' },
    { flags: '--pgdata <dir>', description: 'with --to-time: the new or empty directory that becomes the recovered data directory (left stopped)' },
    { flags: '--pgdata-owner <user>', description: 'with --to-time, as root: who owns --pgdata and runs the server (default postgres)' },
  ],
  restoreOptions: (f, common) => ({
    pgUrl: f.pgUrl as string | undefined,
    passwordFile: f.pgPasswordFile as string | undefined,
    database: f.database as string | undefined,
    sourceDatabase: f.sourceDatabase as string | undefined,
    jobs: f.jobs === undefined ? undefined : positiveInt(String(f.jobs), '--jobs'),
    force: common.force,
    withGlobals: f.withGlobals === true,
    dryRun: common.dryRun,
    pitr: pitrRestoreInput(f),
  }),
  checkRestoreOptions: (_m, o) => {
    if (o.pitr) return checkPitrRestoreInput(o.pitr, o);
    if (!o.pgUrl) throw new UsageError('restoring postgres needs --pg-url URL (the target server)');
    // Before anything is restored (Kubernetes comes first): the file must be readable, the URL without a password.
    if (o.passwordFile) {
      if (urlHasPassword(o.pgUrl)) throw new UsageError(`--pg-url ${redactUrl(o.pgUrl)} has a password and --pg-password-file is given too: keep the password in the file only`);
      readPasswordFile(o.passwordFile, '--pg-password-file');
    }
  },
  // A dump streamed into one pg_restore job is verified only at its end, after pg_restore applied the rest:
  // read it first. With more jobs the dump is staged and verified before pg_restore starts.
  // A point-in-time recovery streams the base backup into an empty directory and empties it again when the
  // artifact fails its checks at the end: nothing to read first.
  artifactsToCheckFirst: (m, o, first) =>
    o.pitr ? [] : selected(m, o).filter((a) => !first || (a.kind === 'pg_dump-custom' && (o.jobs ?? 1) <= 1 && !o.dryRun)),
  restore: async (ctx, o): Promise<SourceRestoreResult<PostgresRestoreReport>> => {
    if (o.pitr) return (await import('./pitr/restore.js')).restorePitr(ctx, o.pitr, o.dryRun);
    // The plan: the manifest's facts and the target as it is, over read-only connections (plan.ts).
    if (o.dryRun) return (await import('./plan.js')).planPostgresRestore(ctx, o);
    const report = await (await import('./restore.js')).restorePostgres(ctx, { ...o, pgUrl: o.pgUrl! });
    return { items: report.items, report };
  },
  drill: { prepare: async (ctx) => (await import('./drill.js')).preparePostgresDrill(ctx) },
} satisfies Source<PostgresRestoreInput, PostgresRestoreReport>;

/** The artifacts a restore with these options reads: the chosen dumps, and the roles with --with-globals. */
function selected(m: Manifest, o: PostgresRestoreInput): Artifact[] {
  return m.artifacts.filter((a) => {
    if (a.source !== 'postgres') return false;
    if (a.kind === 'pg_dumpall-globals-sql') return o.withGlobals === true;
    if (a.kind === 'pg_basebackup-tar') return false; // restored only by a point-in-time recovery (--to-time)
    return o.sourceDatabase === undefined || (a.facts.type === 'postgres' && a.facts.database === o.sourceDatabase);
  });
}

function urlHasPassword(url: string): boolean {
  try {
    const u = new URL(url);
    return u.password !== '' || u.searchParams.has('password');
  } catch {
    return false;
  }
}

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} ${v}: expected a positive whole number`);
  return n;
}
