import type pg from 'pg';
import type { CheckContext, CheckRow } from '../source.js';
import { checkRow, failed, skipped } from '../shared/check-rows.js';
import type { Artifact } from '../../repository/manifest.js';
import type { PostgresFacts } from './facts.js';
import {
  USER_TABLES_SQL,
  checkDumpToolVersion,
  connectPg,
  locatePgTool,
  majorOf,
  pgServerDisplay,
  pgUrlWithPasswordFile,
  qualified,
  serverMajor,
} from './tools.js';

/** At most this many objects are named in a failed row (then "and N more"). */
const NAMED = 5;

/**
 * PostgreSQL's rows of `gushen-dr check`. For a backup: every configured database answers, and its user has what
 * pg_dump needs there (CONNECT; USAGE on every schema and SELECT on every table and sequence, by grant, ownership or
 * pg_read_all_data); the roles can be read when `globals` is on; the pg_dump found is of the server's major version
 * or newer. For a restore or drill: the pg_restore found reads the latest backup's dumps.
 */
export async function checkPostgres(ctx: CheckContext): Promise<CheckRow[]> {
  const cfg = ctx.config.sources.postgres;
  if (!cfg) return [];
  if (ctx.command !== 'backup') return [await restoreToolRow(ctx)];
  let url: string;
  try {
    url = pgUrlWithPasswordFile(cfg.url, cfg.passwordFile);
  } catch (err) {
    return [await checkRow('postgres credentials', () => Promise.reject(err))];
  }
  const rows: CheckRow[] = [];
  let server: { full: string; major: number } | undefined;
  const connectTimeoutMs = Math.min(30, cfg.timeoutSeconds ?? 30) * 1000;
  for (const db of cfg.databases) {
    rows.push(
      await checkRow(`postgres database ${db}`, async () => {
        const client = await connectPg(url, db, 'gushen-dr check', { connectTimeoutMs });
        try {
          const v = await client.query<{ v: string; n: string }>("select current_setting('server_version') as v, current_setting('server_version_num') as n");
          server ??= { full: v.rows[0].v.split(' ')[0], major: serverMajor(Number(v.rows[0].n)) };
          return await dumpPrivileges(client, db);
        } finally {
          await client.end().catch(() => undefined);
        }
      }),
    );
  }
  if (cfg.globals) {
    rows.push(
      await checkRow('postgres roles (globals)', async () => {
        const db = cfg.databases[0];
        const client = await connectPg(url, db, 'gushen-dr check', { connectTimeoutMs });
        try {
          const r = await client.query<{ user: string; can: boolean }>("select current_user as user, has_table_privilege('pg_catalog.pg_authid', 'select') as can");
          if (!r.rows[0].can) {
            return failed(`user "${r.rows[0].user}" may not read pg_authid, which pg_dumpall --globals-only needs (a superuser); use one, or set sources.postgres.globals: false`);
          }
          return `user "${r.rows[0].user}" may read the roles`;
        } finally {
          await client.end().catch(() => undefined);
        }
      }),
    );
  }
  rows.push(
    await checkRow('postgres pg_dump', async () => {
      if (!server) return skipped(`the server at ${pgServerDisplay(cfg.url)} did not answer: its version is unknown`);
      const tool = await locatePgTool('pg_dump', { binDir: cfg.binDir, major: server.major });
      checkDumpToolVersion(tool, server);
      return `pg_dump ${tool.version.full} (${tool.path}) for PostgreSQL ${server.full}`;
    }),
  );
  return rows;
}

/** What pg_dump needs in one database; the ok detail, or a failed outcome naming what is missing. */
async function dumpPrivileges(client: pg.Client, db: string) {
  const who = await client.query<{ user: string; connect: boolean; readall: boolean }>(
    `select current_user as user,
            has_database_privilege(current_database(), 'CONNECT') as connect,
            case when exists (select 1 from pg_catalog.pg_roles where rolname = 'pg_read_all_data')
                 then pg_has_role(current_user, 'pg_read_all_data', 'MEMBER') else false end as readall`,
  );
  const { user, connect, readall } = who.rows[0];
  if (!connect) return failed(`user "${user}" has no CONNECT on database ${db}`);
  // The tables pg_dump reads rows from and the sequences it reads the state of (USER_TABLES_SQL's, plus sequences).
  const missing = await client.query<{ schema: string; name: string; what: string }>(
    `select n.nspname as schema, c.relname as name,
            case when not has_schema_privilege(n.oid, 'USAGE') then 'USAGE on schema' else 'SELECT' end as what
       from pg_catalog.pg_class c
       join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p', 'S')
        and c.relpersistence <> 't'
        and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
        and n.nspname !~ '^pg_(toast_)?temp_'
        and (not has_schema_privilege(n.oid, 'USAGE') or not has_table_privilege(c.oid, 'SELECT'))
      order by 1, 2`,
  );
  const count = await client.query<{ n: string }>(`select count(*) as n from (${USER_TABLES_SQL}) t`);
  if (missing.rows.length > 0) {
    const named = missing.rows.slice(0, NAMED).map((r) => `${qualified(r.schema, r.name)} (${r.what})`);
    const more = missing.rows.length > NAMED ? ` and ${missing.rows.length - NAMED} more` : '';
    return failed(
      `user "${user}" may not read ${named.join(', ')}${more} in database ${db}, which pg_dump needs: ` +
        'GRANT SELECT (and USAGE on the schema), make the user the owner, or GRANT pg_read_all_data (PostgreSQL 14+)',
    );
  }
  return `connected as "${user}"; may read all ${count.rows[0].n} tables${readall ? ' (pg_read_all_data)' : ''}`;
}

/** For a restore or drill: a pg_restore that reads the latest backup's dumps (of their pg_dump's major or newer). */
async function restoreToolRow(ctx: CheckContext): Promise<CheckRow> {
  return checkRow('postgres pg_restore', async () => {
    const dumps = (ctx.latest?.artifacts ?? []).filter((a): a is Artifact & { facts: PostgresFacts } => a.kind === 'pg_dump-custom' && a.facts.type === 'postgres');
    const need = Math.max(0, ...dumps.map((a) => majorOf(a.facts.pgDumpVersion) ?? 0));
    const binDir = ctx.command === 'drill' ? (ctx.config.drill.binDir ?? ctx.config.sources.postgres?.binDir) : ctx.config.sources.postgres?.binDir;
    const tool = await locatePgTool('pg_restore', { binDir, major: need || undefined });
    if (need && tool.version.major < need) {
      return failed(`pg_restore ${tool.version.full} (${tool.path}) cannot read the dumps of backup ${ctx.latest!.id} (pg_dump ${need}): install postgresql-client-${need} or newer, or set the binDir`);
    }
    return `pg_restore ${tool.version.full} (${tool.path})${need ? ` reads the dumps of ${ctx.latest!.id} (pg_dump ${need})` : ''}`;
  });
}
