import { lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorMessage } from './errors.js';
import type { Logger } from './log.js';

/**
 * The one owner of the private directories where restores, `verify --deep` and drills stage decrypted data
 * (dumps, RDBs, a loader's socket). Each is `<parent>/gushen-dr-stage-<pid>-<random>`, mode 0700, with a marker
 * naming the owning process (pid, host, boot, the process's start time). Its owner removes it when done; a
 * process killed outright cannot, so every restore, `verify --deep` and drill first removes the stage
 * directories whose owner is gone (`removeStaleStageDirs`). Directories of live processes, of other hosts
 * (a shared volume) and of other users are left alone.
 */
export const STAGE_DIR_PREFIX = 'gushen-dr-stage-';
/** The owner marker inside each stage directory (JSON, a StageOwner). */
export const STAGE_MARKER = '.gushen-dr-stage-owner.json';
const NAME = /^gushen-dr-stage-(\d+)-[0-9a-f]+$/;

export interface StageOwner {
  pid: number;
  host: string;
  /** /proc/sys/kernel/random/boot_id: a pid from an earlier boot is not this one. */
  bootId?: string;
  /** The owner's start time in clock ticks since boot (/proc/<pid>/stat field 22): a reused pid has another. */
  startTicks?: number;
  createdAt: string;
}

/** Creates a new stage directory under `parent` (default: the OS temp dir), 0700, with its owner marker. */
export async function createStageDir(parent: string = tmpdir()): Promise<string> {
  const dir = join(parent, `${STAGE_DIR_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
  await mkdir(dir, { mode: 0o700 });
  try {
    const owner: StageOwner = { pid: process.pid, host: hostname(), bootId: bootId(), startTicks: startTicks(process.pid), createdAt: new Date().toISOString() };
    await writeFile(join(dir, STAGE_MARKER), JSON.stringify(owner), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return dir;
}

/** Where stage directories may be: the scratch directory in use and the OS temp dir (sockets, defaults). */
export function stageParents(scratchDir?: string): string[] {
  return [...new Set([scratchDir ?? tmpdir(), tmpdir()])];
}

/**
 * Removes the stage directories under `parents` whose owning process is gone (killed restores, drills, deep
 * verifies). Never throws: a directory that cannot be judged or removed is logged and left.
 * Returns the directories removed.
 */
export async function removeStaleStageDirs(parents: string[], log?: Logger): Promise<string[]> {
  const removed: string[] = [];
  for (const parent of parents) {
    let names: string[];
    try {
      names = await readdir(parent);
    } catch {
      continue; // a scratch directory that does not exist (yet) holds nothing stale
    }
    for (const name of names) {
      const m = NAME.exec(name);
      if (!m) continue;
      const dir = join(parent, name);
      try {
        const st = await lstat(dir);
        if (!st.isDirectory() || (process.getuid && st.uid !== process.getuid())) continue;
        const why = await staleReason(dir, Number(m[1]));
        if (!why) continue;
        await rm(dir, { recursive: true, force: true });
        removed.push(dir);
        log?.info({ dir }, `removed a stage directory left behind: ${why}`);
      } catch (err) {
        log?.warn({ dir, err: errorMessage(err) }, 'could not check or remove a stage directory');
      }
    }
  }
  return removed;
}

/** Why the directory's owner is gone, or undefined while it may be alive (or cannot be judged from here). */
async function staleReason(dir: string, pidInName: number): Promise<string | undefined> {
  let owner: Partial<StageOwner> | undefined;
  try {
    owner = JSON.parse(await readFile(join(dir, STAGE_MARKER), 'utf8')) as Partial<StageOwner>;
  } catch {
    owner = undefined; // killed between creating the directory and writing the marker: judge by the name's pid
  }
  const pid = typeof owner?.pid === 'number' ? owner.pid : pidInName;
  if (owner?.host !== undefined && owner.host !== hostname()) return undefined;
  const boot = bootId();
  if (owner?.bootId && boot && owner.bootId !== boot) return `its process ${pid} ran before the last reboot`;
  if (!processAlive(pid)) return `its process ${pid} is gone`;
  if (typeof owner?.startTicks === 'number') {
    const now = startTicks(pid);
    if (now !== undefined && now !== owner.startTicks) return `its process ${pid} is gone (the pid now belongs to another process)`;
  }
  return undefined;
}

function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let cachedBootId: string | undefined | null = null;
function bootId(): string | undefined {
  if (cachedBootId === null) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
    } catch {
      cachedBootId = undefined;
    }
  }
  return cachedBootId;
}

/** A process's start time (clock ticks since boot) from /proc, or undefined where there is no /proc. */
function startTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) is in parentheses and may hold spaces: count from the last ')'. Field 22 is starttime.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const n = Number(fields[22 - 3]);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}
