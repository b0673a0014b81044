import type { Identity } from '../crypto/index.js';
import { baseBackups, describeWindows, recoveryWindows } from '../sources/postgres/pitr/restore.js';
import { pruneWal, type WalPruneResult } from '../sources/postgres/pitr/retention.js';
import { verifyWal, type WalVerifyResult } from '../sources/postgres/pitr/verify.js';
import { describeGap, listWalClusters } from '../sources/postgres/pitr/wal-store.js';
import { formatMicros } from '../sources/postgres/pitr/wal-names.js';
import type { Manifest } from '../repository/manifest.js';
import { out, type Env } from './common.js';

/** Whether this store is used for point-in-time recovery: configured, or WAL already in it. */
async function pitrInUse(env: Env): Promise<boolean> {
  return env.config.sources.postgres?.pitr?.enabled === true || (await listWalClusters(env.store)).length > 0;
}

/** `list`: the PostgreSQL recovery window below the table (oldest base backup → newest archived WAL, holes). */
export async function printRecoveryWindow(env: Env): Promise<void> {
  if (!(await pitrInUse(env))) return;
  const bases = await baseBackups(env.store, env.config);
  const w = await recoveryWindows(env.store, bases);
  out('');
  out(w ? `PostgreSQL point-in-time recovery: ${describeWindows(w)}` : 'PostgreSQL point-in-time recovery: no base backup yet (needs a backup with sources.postgres.pitr.enabled)');
}

/** `show`: what the backup's base backup can reach. */
export async function printBaseBackupWindow(env: Env, m: Manifest): Promise<void> {
  if (!m.artifacts.some((a) => a.kind === 'pg_basebackup-tar')) return;
  const bases = await baseBackups(env.store, env.config, m);
  const w = await recoveryWindows(env.store, bases);
  const mine = w?.windows.find((x) => x.base.backupId === m.id);
  if (!mine) return;
  out('');
  out(
    mine.endMicros < 0n
      ? `point-in-time recovery from this base backup: not possible, ${mine.chain.gaps.map(describeGap).join('; ') || 'its WAL is not stored'}`
      : `point-in-time recovery from this base backup: ${formatMicros(mine.base.stoppedMicros)} → ${formatMicros(mine.endMicros)}${mine.chain.gaps.length ? ` (then: ${mine.chain.gaps.map(describeGap).join('; ')})` : ''}`,
  );
}

/** `verify --wal` (with identities: `--deep` too). */
export function verifyWalCommand(env: Env, identities?: Identity[]): Promise<WalVerifyResult> {
  return verifyWal({ store: env.store, config: env.config, identities });
}

export function printWalVerify(r: WalVerifyResult, deep: boolean): void {
  for (const c of r.checks) out(`${c.ok ? 'ok    ' : 'FAILED'} ${c.what}: ${c.detail}`);
  if (r.window) out(`recoverable ${r.window}`);
  out(r.ok ? `WAL verified${deep ? ' (deep)' : ''}` : 'WAL FAILED verification');
}

/** `prune`: WAL no retained base backup needs. */
export async function pruneWalCommand(env: Env, dryRun: boolean): Promise<WalPruneResult | undefined> {
  if (!(await pitrInUse(env))) return undefined;
  return pruneWal({ store: env.store, log: env.log, dryRun });
}

export function printWalPrune(r: WalPruneResult, dryRun: boolean): void {
  for (const c of r.clusters) out(`WAL of cluster ${c.sysid}: ${dryRun ? 'would delete' : 'deleted'} ${c.deleted} objects (${c.reason})${c.keptFrom ? `; kept from ${c.keptFrom}` : ''}`);
  for (const k of r.locked) out(`locked: ${k} (S3 Object Lock) — skipped`);
  for (const e of r.errors) out(`ERROR WAL ${e}`);
}
