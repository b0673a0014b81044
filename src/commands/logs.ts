import { resolveBackup } from '../repository/catalog.js';
import { backupLogKey, parseBackupId } from '../repository/layout.js';
import { readObjectText } from '../store/text.js';
import { OperationError, UsageError } from '../util/errors.js';
import { formatHumanLine } from '../util/log.js';
import { out, type Env } from './common.js';
import { manifestTrust } from './trust.js';

/**
 * `gushen-dr logs <id|latest>`: the backup run's own log (backups/<id>/log.jsonl, docs/format.md). `-o json` prints
 * the JSON lines as stored; the table output one line each as on a terminal, with its time.
 */
export async function logsCommand(env: Env, ref: string): Promise<number> {
  let id: string;
  if (ref === 'latest') id = (await resolveBackup(env.store, ref, await manifestTrust(env))).id;
  else if (parseBackupId(ref)) id = ref;
  else throw new UsageError(`"${ref}" is not a backup id (like 20261124T020000Z-nightly) or "latest"`);
  const key = backupLogKey(id);
  if (!(await env.store.head(key))) {
    throw new OperationError(`backup ${id} has no stored log (${key} in ${env.store.description}): made by an older gushen-dr, or stopped before it got that far`);
  }
  const text = await readObjectText(env.store, key);
  for (const line of text.split('\n')) {
    if (!line) continue;
    if (env.output === 'json') {
      out(line);
      continue;
    }
    try {
      out(formatHumanLine(JSON.parse(line) as Record<string, unknown>, true));
    } catch {
      out(line);
    }
  }
  return 0;
}
