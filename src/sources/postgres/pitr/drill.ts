import { chmod, chown, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorMessage } from '../../../util/errors.js';
import type { CheckResult, DrillContext } from '../../source.js';
import { majorOf } from '../tools.js';
import { locatePitrTool } from './pg-bin.js';
import { startPrivate } from './recover.js';
import { restorePitr } from './restore.js';
import { formatMicros, parseIsoMicros } from './wal-names.js';

export interface PitrDrillResult {
  checks: CheckResult[];
  /** Drill start minus the newest archived transaction. */
  rpoSeconds?: number;
  detail: string;
}

/**
 * The drill's point-in-time part, when the drilled backup holds a base backup: recovers it to `latest` (base
 * backup + all archived WAL) into a throwaway data directory, starts that privately and checks it answers and
 * holds the backed-up databases. The achieved RPO is the drill's start minus the newest transaction replayed.
 */
export async function pitrDrill(ctx: DrillContext, startedAt: Date, databases: string[]): Promise<PitrDrillResult> {
  const scratch = await mkdtemp(join(ctx.restore.scratchDir ?? tmpdir(), 'gushen-dr-drill-pitr-'));
  // The recovered directory is owned by postgres when we are root: it must be able to reach it.
  await chmod(scratch, 0o755);
  ctx.cleanup(`point-in-time recovery data directory ${scratch}`, () => rm(scratch, { recursive: true, force: true }));
  const pgdata = join(scratch, 'data');
  const r = await restorePitr(ctx.restore, { target: { latest: true }, pgdata });
  const report = r.report.pitr;
  const checks: CheckResult[] = [];
  const base = ctx.artifacts.find((a) => a.facts.type === 'postgres-basebackup');
  const major = base?.facts.type === 'postgres-basebackup' ? majorOf(base.facts.serverVersion) : undefined;
  let answered = false;
  try {
    const owner = process.getuid?.() === 0 ? await ownerOf(pgdata) : undefined;
    const srv = await startPrivate({ pgdata, postgres: (await locatePitrTool('postgres', { binDir: ctx.config.drill.binDir, major })).path, socketDir: await ownedDir(scratch, owner), owner, log: ctx.restore.log });
    try {
      const have = new Set((await srv.query<{ datname: string }>('postgres', 'select datname from pg_database')).rows.map((x) => x.datname));
      const missing = databases.filter((d) => !have.has(d));
      answered = true;
      checks.push({
        kind: 'postgres',
        name: 'PITR: recovered to latest, starts and answers',
        ok: missing.length === 0,
        expected: databases.join(', '),
        actual: missing.length ? `missing ${missing.join(', ')}` : databases.join(', '),
        detail: `base backup ${report.baseBackup.backup} + ${report.walFetched ?? 0} WAL files`,
      });
    } finally {
      await srv.stop();
    }
  } catch (err) {
    if (!answered) checks.push({ kind: 'postgres', name: 'PITR: recovered to latest, starts and answers', ok: false, detail: errorMessage(err) });
  }
  const last = report.lastReplayedTransaction ? parseIsoMicros(report.lastReplayedTransaction) : undefined;
  const rpoSeconds = last === undefined ? undefined : Math.max(0, (startedAt.getTime() * 1000 - Number(last)) / 1e6);
  checks.push({
    kind: 'postgres',
    name: 'PITR: recovery point',
    ok: last !== undefined,
    actual: rpoSeconds === undefined ? 'unknown' : `${rpoSeconds.toFixed(1)} s`,
    detail: last === undefined ? 'no transaction after the base backup was replayed' : `newest archived transaction ${formatMicros(last)}`,
  });
  return { checks, rpoSeconds, detail: `latest: newest transaction ${report.lastReplayedTransaction ?? 'none'}; RPO ${rpoSeconds?.toFixed(1) ?? '?'} s` };
}

async function ownerOf(path: string): Promise<{ uid: number; gid: number }> {
  const s = await stat(path);
  return { uid: s.uid, gid: s.gid };
}

async function ownedDir(parent: string, owner?: { uid: number; gid: number }): Promise<string> {
  const d = join(parent, 'run');
  await mkdir(d, { mode: 0o700 });
  if (owner) await chown(d, owner.uid, owner.gid);
  return d;
}
