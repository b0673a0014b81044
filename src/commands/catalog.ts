import { listBackups, resolveBackup } from '../repository/catalog.js';
import { verifyBackup } from '../engine/verify.js';
import { prune } from '../repository/prune.js';
import { loadIdentities } from '../config/keys.js';
import { formatAge, formatBytes, out, printJson, progressFor, table, type Env } from './common.js';
import { manifestTrust } from './trust.js';
import { printBaseBackupWindow, printRecoveryWindow, printWalPrune, printWalVerify, pruneWalCommand, verifyWalCommand } from './pitr.js';
import { UsageError } from '../util/errors.js';

export async function listCommand(env: Env): Promise<number> {
  const trust = await manifestTrust(env);
  const entries = await listBackups(env.store, trust);
  if (env.output === 'json') {
    printJson(
      entries.map((e) => ({
        id: e.id,
        schedule: e.schedule,
        status: e.status,
        startedAt: e.startedAt?.toISOString(),
        storedBytes: e.storedBytes,
        artifacts: e.artifacts,
        problem: e.problem,
      })),
    );
    return 0;
  }
  if (entries.length === 0) {
    out(`no backups in ${env.store.description}`);
    return 0;
  }
  out(
    table(
      ['ID', 'SCHEDULE', 'STATUS', 'AGE', 'SIZE', 'ARTIFACTS'],
      entries.map((e) => [e.id, e.schedule, e.status === 'Incomplete' ? 'Incomplete (no manifest)' : e.status, formatAge(e.startedAt), formatBytes(e.storedBytes), String(e.artifacts)]),
    ),
  );
  // A manifest that is not trusted may be an attacker's, one that cannot be read blocks prune: say why, below the table.
  for (const e of entries.filter((x) => x.status === 'Unsigned' || x.status === 'BadSignature' || x.status === 'Unreadable')) out(`${e.status} ${e.id}: ${e.problem}`);
  await printRecoveryWindow(env);
  return 0;
}

export async function showCommand(env: Env, ref: string): Promise<number> {
  const m = await resolveBackup(env.store, ref, await manifestTrust(env));
  if (env.output === 'json') {
    printJson(m);
    return 0;
  }
  out(`backup     ${m.id}`);
  out(`status     ${m.status}`);
  out(`schedule   ${m.schedule}`);
  out(`started    ${m.startedAt}`);
  out(`finished   ${m.finishedAt}`);
  out(`tool       gushen-dr ${m.tool.version} on ${m.host}`);
  out('');
  out(
    table(
      ['ARTIFACT', 'KIND', 'SIZE', 'STORED', 'SHA-256', 'FACTS'],
      m.artifacts.map((a) => [a.name, a.kind, formatBytes(a.size), formatBytes(a.stored.size), a.sha256?.slice(0, 16) ?? '— (zstd check)', factsSummary(a.facts)]),
    ),
  );
  for (const f of m.failures) out(`FAILED ${f.artifact ?? f.source}: ${f.error}`);
  await printBaseBackupWindow(env, m);
  return 0;
}

function factsSummary(f: import('../repository/manifest.js').ArtifactFacts): string {
  switch (f.type) {
    case 'postgres':
      return `${f.database}: ${f.tables.length} tables, ${f.tables.reduce((s, t) => s + t.rows, 0)} rows, PostgreSQL ${f.serverVersion}`;
    case 'postgres-globals':
      return `${f.roles} roles`;
    case 'postgres-basebackup':
      return `base backup of cluster ${f.systemIdentifier}, WAL ${f.startSegment}..${f.stopSegment}, PostgreSQL ${f.serverVersion}`;
    case 'redis':
      return `${f.databases.reduce((s, d) => s + d.keys, 0)} keys in ${f.databases.length} dbs, Redis ${f.redisVersion}, RDB v${f.rdbVersion}`;
    case 'kube':
      return `${f.objects} objects from ${f.namespace}`;
  }
}

export async function verifyCommand(env: Env, ref: string | undefined, opts: { deep?: boolean; identity?: string; scratchDir?: string; wal?: boolean }): Promise<number> {
  const trust = await manifestTrust(env);
  const identities = opts.deep ? await loadIdentities(env.config, opts.identity) : undefined;
  if (ref === undefined) {
    // `verify --wal` alone: the archived WAL of point-in-time recovery, from every retained base backup on.
    if (!opts.wal) throw new UsageError('verify needs a backup (<id> or latest), or --wal');
    const wal = await verifyWalCommand(env, identities);
    if (env.output === 'json') printJson({ wal });
    else printWalVerify(wal, identities !== undefined);
    return wal.ok ? 0 : 1;
  }
  const manifest = await resolveBackup(env.store, ref, trust);
  const progress = progressFor(env, 'verify');
  const results = await verifyBackup({
    store: env.store,
    manifest,
    config: env.config,
    log: env.log,
    deep: identities ? { identities, scratchDir: opts.scratchDir ?? env.config.scratchDir } : undefined,
    progress,
  }).finally(() => progress.stop());
  const ok = results.every((r) => r.ok) && manifest.status === 'Completed';
  const wal = opts.wal ? await verifyWalCommand(env, identities) : undefined;
  if (env.output === 'json') printJson({ backup: manifest.id, status: manifest.status, ok, signatureChecked: trust.publicKeys !== undefined, results, ...(wal ? { wal } : {}) });
  else {
    if (trust.publicKeys) out(`ok     manifest.json  (Ed25519 signature by a configured signing key)`);
    for (const r of results) out(`${r.ok ? 'ok    ' : 'FAILED'} ${r.artifact}${r.ok ? `  (${r.checks.join('; ')})` : `: ${r.error}`}`);
    if (manifest.status !== 'Completed') out(`backup ${manifest.id} is ${manifest.status}`);
    out(ok ? `backup ${manifest.id} verified${opts.deep ? ' (deep)' : ''}` : `backup ${manifest.id} FAILED verification`);
    if (wal) printWalVerify(wal, identities !== undefined);
  }
  return ok && (wal?.ok ?? true) ? 0 : 1;
}

export async function pruneCommand(env: Env, opts: { dryRun?: boolean }): Promise<number> {
  const r = await prune({ store: env.store, config: env.config, log: env.log, dryRun: opts.dryRun });
  // Archived WAL goes only where no retained base backup needs it: after the backups, and not when prune stopped.
  const wal = r.aborted ? undefined : await pruneWalCommand(env, opts.dryRun === true);
  if (env.output === 'json') printJson(wal ? { ...r, wal } : r);
  else {
    out(table(['ID', 'STATUS', 'ACTION', 'REASON'], r.decisions.map((d) => [d.id, d.status, opts.dryRun && d.action === 'delete' ? 'would delete' : d.action, d.reason])));
    for (const l of r.locked) out(`locked: ${l.key}${l.until ? ` until ${l.until}` : ''} (S3 Object Lock) — skipped`);
    for (const e of r.errors) out(`ERROR ${e.id}: ${e.error}`);
    if (r.aborted) out(`prune stopped: ${r.aborted}`);
    if (r.abandoned?.files) out(`removed ${r.abandoned.files} temp files of interrupted writes (${r.abandoned.bytes} bytes)`);
    if (wal) printWalPrune(wal, opts.dryRun === true);
  }
  return r.errors.length > 0 || (wal?.errors.length ?? 0) > 0 ? 1 : 0;
}
