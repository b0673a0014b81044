import { resolveBackup } from '../repository/catalog.js';
import { loadIdentities } from '../config/keys.js';
import type { SourceName } from '../config/schema.js';
import { runRestore, type RestoreRunOptions } from '../engine/restore.js';
import { SOURCES } from '../sources/registry.js';
import { out, printJson, progressFor, table, type Env } from './common.js';
import { withSignals } from './signals.js';
import { manifestTrust } from './trust.js';

/** The parsed flags: the common ones, and every source's own (by camel-cased long name). */
export interface RestoreFlags {
  only?: SourceName[];
  identity?: string;
  scratchDir?: string;
  force?: boolean;
  dryRun?: boolean;
  [sourceFlag: string]: unknown;
}

export async function restoreCommand(env: Env, ref: string, f: RestoreFlags): Promise<number> {
  const common = { force: f.force === true, dryRun: f.dryRun === true };
  // Every source turns its flags into options first: a bad flag is refused before anything is read.
  const perSource = Object.fromEntries(SOURCES.map((s) => [s.name, s.restoreOptions(f, common)]));
  // `latest` is the newest Completed backup holding every source being restored: a `backup --only` run may not.
  const restoring = f.only ?? SOURCES.map((s) => s.name).filter((n) => (env.config.sources as Record<string, unknown>)[n] !== undefined);
  const manifest = await resolveBackup(env.store, ref, { ...(await manifestTrust(env)), sources: restoring });
  if (manifest.status !== 'Completed') env.log.warn({ backup: manifest.id, status: manifest.status }, 'restoring from a backup that is not Completed');
  const identities = await loadIdentities(env.config, f.identity);
  const progress = progressFor(env, 'restore');
  const report = await withSignals(env.log, (signal) =>
    runRestore({
      ...(perSource as Partial<RestoreRunOptions>),
      store: env.store,
      manifest,
      identities,
      config: env.config,
      log: env.log,
      only: f.only,
      scratchDir: f.scratchDir ?? env.config.scratchDir,
      signal,
      progress,
    }).finally(() => progress.stop()),
  );
  if (env.output === 'json') printJson(report);
  else {
    out(table(['ITEM', 'RESULT', 'DETAIL'], report.items.map((i) => [i.item, i.result, i.detail ?? ''])));
    out(`restore of ${report.backup}${common.dryRun ? ' (dry run: nothing was changed)' : ''}: ${report.failed === 0 ? 'ok' : `${report.failed} failed`}`);
  }
  return report.failed === 0 ? 0 : 1;
}
