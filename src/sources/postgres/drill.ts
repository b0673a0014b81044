import type { Artifact } from '../../repository/manifest.js';
import type { CheckResult, DrillContext, DrillTarget } from '../source.js';
import type { PostgresFacts } from './facts.js';
import { countRows, restorePostgres } from './restore.js';
import { findPostgresBinDir, startScratchPostgres } from './scratch-server.js';
import { connectPg, majorOf, pgClientUrl, pgServerDisplay, pgUrlWithPasswordFile, quoteIdent } from './tools.js';

/**
 * PostgreSQL's drill part: every dumped database is restored into a scratch database (`<databasePrefix><stamp>`,
 * `_<db>` added when there are several) on `drill.postgres.url` or a throwaway local server of the backed-up
 * major version or newer; then every table's exact row count must equal the manifest's.
 */
export async function preparePostgresDrill(ctx: DrillContext): Promise<DrillTarget | undefined> {
  const dumps = ctx.artifacts.filter((a): a is Artifact & { facts: PostgresFacts } => a.kind === 'pg_dump-custom' && a.facts.type === 'postgres');
  if (dumps.length === 0) return undefined;
  const cfg = ctx.config.drill;
  const dbName = (db: string) => `${cfg.databasePrefix}${ctx.stamp}${dumps.length > 1 ? `_${db}` : ''}`;
  let server: string;
  let kind: 'throwaway' | 'configured';
  if (cfg.postgres?.url) {
    server = pgUrlWithPasswordFile(cfg.postgres.url, cfg.postgres.passwordFile);
    kind = 'configured';
  } else {
    const major = Math.max(...dumps.map((a) => majorOf(a.facts.serverVersion) ?? 0));
    const srv = await startScratchPostgres(await findPostgresBinDir(major, cfg.binDir));
    ctx.cleanup(`throwaway PostgreSQL ${srv.where}`, srv.stop);
    server = srv.url;
    kind = 'throwaway';
  }
  const databases = dumps.map((a) => dbName(a.facts.database));
  const first = databases[0];
  let pitr: import('./pitr/drill.js').PitrDrillResult | undefined;
  return {
    vars: { database: first, pgUrl: pgClientUrl(server, first) },
    scratch: { databases, server: kind },
    describe: `postgres ${kind}`,
    restore: async () => {
      for (const a of dumps) {
        const target = dbName(a.facts.database);
        ctx.cleanup(`database ${target}`, () => dropDatabase(server, target));
        await ctx.phase(
          'postgres',
          () => restorePostgres(ctx.restore, { pgUrl: server, sourceDatabase: a.facts.database, database: target, jobs: 2 }),
          () => `${a.facts.database} → ${target} on ${pgServerDisplay(server)}`,
        );
      }
      // With point-in-time recovery: base backup + all archived WAL, recovered to latest (pitr/drill.ts).
      if (ctx.config.sources.postgres?.pitr?.enabled && ctx.artifacts.some((a) => a.kind === 'pg_basebackup-tar')) {
        const started = drillStart(ctx.drillId);
        pitr = await ctx.phase('postgres-pitr', async () => (await import('./pitr/drill.js')).pitrDrill(ctx, started, dumps.map((a) => a.facts.database)), (r) => r.detail);
      }
    },
    rpoSeconds: () => pitr?.rpoSeconds,
    checks: async () => {
      const out: CheckResult[] = [...(pitr?.checks ?? [])];
      for (const a of dumps) out.push(...(await postgresChecks(server, dbName(a.facts.database), a.facts)));
      return out;
    },
  };
}

/** Every table's exact row count in the restored database against the manifest's. */
export async function postgresChecks(serverUrl: string, database: string, facts: PostgresFacts): Promise<CheckResult[]> {
  const actual = new Map((await countRows(pgClientUrl(serverUrl, database))).map((t) => [`${t.schema}.${t.name}`, t.rows]));
  const out: CheckResult[] = facts.tables.map((t) => {
    const key = `${t.schema}.${t.name}`;
    const rows = actual.get(key);
    actual.delete(key);
    return {
      kind: 'postgres',
      name: `${database}: ${key}`,
      ok: rows === t.rows,
      expected: t.rows,
      actual: rows ?? 'missing',
    };
  });
  for (const [key, rows] of actual) out.push({ kind: 'postgres', name: `${database}: ${key}`, ok: false, expected: 'absent', actual: rows, detail: 'table not in the backup' });
  const tables = facts.tables.length;
  const found = out.filter((c) => c.actual !== 'missing').length;
  out.unshift({ kind: 'postgres', name: `${database}: tables`, ok: found === tables && out.every((c) => c.ok), expected: tables, actual: found });
  return out;
}

/** The drill's start from its id (`<UTC YYYYMMDDTHHMMSSZ>-drill`), for the point-in-time recovery's RPO. */
function drillStart(drillId: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(drillId);
  return m ? new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`) : new Date();
}

async function dropDatabase(serverUrl: string, db: string): Promise<void> {
  const c = await connectPg(serverUrl, 'postgres');
  try {
    await c.query(`DROP DATABASE IF EXISTS ${quoteIdent(db)} WITH (FORCE)`);
  } finally {
    await c.end();
  }
}
