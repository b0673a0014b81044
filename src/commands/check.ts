import type { SourceName } from '../config/schema.js';
import { runChecks, type CheckedCommand } from '../engine/check.js';
import { openStore } from '../store/index.js';
import { out, printJson, table, type Env } from './common.js';

export interface CheckFlags {
  /** Whose needs: backup (default), restore or drill. */
  for?: CheckedCommand;
  only?: SourceName[];
  identity?: string;
  scratchDir?: string;
}

/** `gushen-dr check`: a table of CHECK, STATUS (ok, failed, skipped), DETAIL, or `-o json`; exit 1 when any failed. */
export async function checkCommand(env: Env, f: CheckFlags): Promise<number> {
  // A dead endpoint should fail its row in seconds, not after the backup's full retry budget.
  const s3 = env.config.store.s3;
  const store = openStore({ ...env.config.store, s3: { ...s3, maxAttempts: Math.min(2, s3.maxAttempts), timeoutSeconds: Math.min(30, s3.timeoutSeconds ?? 30) } });
  const command = f.for ?? 'backup';
  try {
    const rows = await runChecks({ config: env.config, store, log: env.log, command, only: f.only, identityFile: f.identity, scratchDir: f.scratchDir });
    const failed = rows.filter((r) => r.status === 'failed').length;
    if (env.output === 'json') printJson({ command, ok: failed === 0, checks: rows });
    else {
      out(table(['CHECK', 'STATUS', 'DETAIL'], rows.map((r) => [r.check, r.status, r.detail])));
      out(failed === 0 ? `ready to ${command}: ${rows.length} checks, none failed` : `NOT ready to ${command}: ${failed} of ${rows.length} checks failed`);
    }
    return failed === 0 ? 0 : 1;
  } finally {
    await store.close?.();
  }
}
