import { createInterface } from 'node:readline/promises';
import { listBackups } from '../repository/catalog.js';
import { isBackupId, backupPrefix } from '../repository/layout.js';
import { planPrune } from '../repository/prune.js';
import { removeBackup } from '../repository/remove.js';
import { OperationError, UsageError } from '../util/errors.js';
import { formatBytes, out, printJson, type Env } from './common.js';
import { manifestTrust } from './trust.js';

export interface DeleteFlags {
  /** Delete without asking (needed when stdin is not a terminal). */
  yes?: boolean;
  /** Also delete the newest Completed copy of a source, or a backup whose manifest cannot be read. */
  force?: boolean;
  dryRun?: boolean;
}

/** How the command talks to the operator; tests pass their own. */
export interface DeleteIo {
  /** Whether a person can answer (stdin and stderr are terminals). */
  interactive: boolean;
  /** Asks the question, resolves with the answer. */
  ask(question: string): Promise<string>;
}

const terminal: DeleteIo = {
  interactive: process.stdin.isTTY === true && process.stderr.isTTY === true,
  async ask(question) {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await rl.question(question);
    } finally {
      rl.close();
    }
  },
};

/**
 * `gushen-dr delete <id>`: removes one backup, the manifest first (as prune does). It asks on a terminal and needs
 * `--yes` otherwise; it refuses, without `--force`, the newest Completed copy of a configured source and a backup
 * whose manifest cannot be read (nobody can tell what that one holds). `--dry-run` lists what it would delete.
 */
export async function deleteCommand(env: Env, id: string, flags: DeleteFlags, io: DeleteIo = terminal): Promise<number> {
  if (!isBackupId(id)) throw new UsageError(`delete: "${id}" is not a backup id (like 20261124T020000Z-nightly); delete takes one explicit id, never latest`);
  if (!flags.dryRun && !flags.yes && !io.interactive) throw new UsageError(`delete ${id}: not a terminal, so nobody can confirm: add --yes (or --dry-run to see what it would delete)`);

  const entries = await listBackups(env.store, await manifestTrust(env));
  const entry = entries.find((e) => e.id === id);
  if (!entry) throw new OperationError(`backup ${id} not found in ${env.store.description}`);
  const decision = planPrune(entries, env.config, new Date()).find((d) => d.id === id)!;
  if (!flags.force) {
    if (decision.newestCopyOf?.length) {
      throw new UsageError(
        `delete ${id}: it is the newest ${entry.status === 'Completed' ? 'Completed' : 'verified'} copy of ${decision.newestCopyOf.join(', ')}; add --force to delete it anyway`,
      );
    }
    if (entry.status === 'Unreadable') throw new UsageError(`delete ${id}: its manifest cannot be read (${entry.problem}), so nobody can tell what it holds; add --force to delete it anyway`);
  }

  const objects = await env.store.list(backupPrefix(id));
  const summary = `${id} (${entry.status}, ${objects.length} objects, ${formatBytes(entry.storedBytes)})`;
  if (flags.dryRun) {
    if (env.output === 'json') printJson({ id, status: entry.status, dryRun: true, objects: objects.map((o) => o.key) });
    else {
      out(`would delete backup ${summary}:`);
      for (const o of objects) out(`  ${o.key}`);
    }
    return 0;
  }
  if (!flags.yes) {
    const answer = (await io.ask(`Delete backup ${summary}? This cannot be undone. [y/N] `)).trim().toLowerCase();
    if (answer !== 'y' && answer !== 'yes') {
      out(`not deleted: ${id}`);
      return 1;
    }
  }
  const { locked } = await removeBackup(env.store, id);
  env.log.info({ backup: id, status: entry.status, forced: flags.force === true, locked: locked.length }, locked.length > 0 ? 'backup partly deleted: objects under Object Lock' : 'backup deleted');
  if (env.output === 'json') printJson({ id, status: entry.status, deleted: locked.length === 0, locked });
  else {
    for (const l of locked) out(`locked: ${l.key}${l.until ? ` until ${l.until}` : ''} (S3 Object Lock) — not deleted`);
    out(locked.length === 0 ? `deleted backup ${summary}` : `backup ${id} is still under S3 Object Lock retention: not deleted`);
  }
  return locked.length === 0 ? 0 : 1;
}
