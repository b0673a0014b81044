import { createWriteStream } from 'node:fs';
import { chmod, chown, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Identity } from '../../../crypto/index.js';
import type { ObjectStore } from '../../../store/types.js';
import { errorMessage } from '../../../util/errors.js';
import type { Logger } from '../../../util/log.js';
import { openWal } from './wal-store.js';

/** Seconds the restore_command waits for a file the plan lists before it gives up (the restore process died). */
const FETCH_WAIT_SECONDS = 3600;
const POLL_MS = 50;

export interface Owner {
  uid: number;
  gid: number;
}

/**
 * Hands WAL to a recovering server without giving it any credentials: the server's `restore_command` is a small
 * shell script that asks for a file by creating `req/<name>` and copies `ready/<name>` once this process (which
 * holds the store credentials and the age identity) has fetched, decrypted and placed it there. Names not in the
 * plan (the store's listing at the start) are refused at once, as restore_command must for a file that does not
 * exist. The next few segments in plan order are fetched ahead, so replay waits on the store only at the start.
 */
export class WalStager {
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Names placed in ready/ that are still there, i.e. not yet taken by the server. */
  private readonly placed = new Set<string>();
  /** Taken names: not fetched ahead again (a new request still fetches them). */
  private readonly taken = new Set<string>();
  private timer?: NodeJS.Timeout;
  private polling = false;
  private failure?: Error;
  served = 0;
  readonly script: string;

  constructor(
    private readonly o: {
      store: ObjectStore;
      identities: Identity[];
      /** WAL file name → object key, in replay order (segments); history files anywhere. */
      plan: Map<string, string>;
      dir: string;
      owner?: Owner;
      log: Logger;
      prefetch?: number;
    },
  ) {
    this.script = join(o.dir, 'restore-command.sh');
  }

  /** Writes the plan and the script, creates the request and ready directories. */
  async prepare(): Promise<void> {
    const { dir } = this.o;
    for (const d of [dir, join(dir, 'req'), join(dir, 'ready'), join(dir, 'failed'), join(dir, 'tmp')]) {
      await mkdir(d, { recursive: true, mode: 0o700 });
      await chmod(d, 0o700);
      if (this.o.owner) await chown(d, this.o.owner.uid, this.o.owner.gid);
    }
    await writeFile(join(dir, 'plan'), [...this.o.plan.keys()].map((n) => `${n}\n`).join(''), { mode: 0o600 });
    await writeFile(this.script, restoreCommandScript(dir), { mode: 0o700 });
    for (const f of ['plan', 'restore-command.sh']) if (this.o.owner) await chown(join(dir, f), this.o.owner.uid, this.o.owner.gid);
  }

  /** `restore_command` for postgresql.conf / `-c`. */
  restoreCommand(): string {
    return `${shellQuote(this.script)} %f %p`;
  }

  start(): void {
    this.timer = setInterval(() => void this.poll(), POLL_MS);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.allSettled(this.inFlight.values());
  }

  /** An error fetching a planned file (the server was told it does not exist, which ends recovery early). */
  get error(): Error | undefined {
    return this.failure;
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const { dir } = this.o;
      const ready = new Set(await readdir(join(dir, 'ready')));
      for (const n of [...this.placed]) {
        if (!ready.has(n)) {
          this.placed.delete(n);
          this.taken.add(n);
          this.served++;
        }
      }
      const requested = await readdir(join(dir, 'req'));
      const names = [...this.o.plan.keys()];
      for (const name of requested) {
        if (!this.o.plan.has(name)) continue;
        this.fetch(name, ready);
        // Fetch ahead: the next planned segments after this one.
        const i = names.indexOf(name);
        let ahead = 0;
        for (let j = i + 1; j < names.length && ahead < (this.o.prefetch ?? 4); j++) {
          const next = names[j];
          if (next.endsWith('.history')) continue;
          ahead++;
          if (!this.taken.has(next)) this.fetch(next, ready);
        }
      }
    } catch (err) {
      this.o.log.warn({ err: errorMessage(err) }, 'WAL staging: could not read the request directory');
    } finally {
      this.polling = false;
    }
  }

  private fetch(name: string, ready: Set<string>): void {
    if (ready.has(name) || this.inFlight.has(name) || this.placed.has(name)) return;
    const p = this.place(name).finally(() => this.inFlight.delete(name));
    this.inFlight.set(name, p);
  }

  private async place(name: string): Promise<void> {
    const { dir, owner } = this.o;
    const tmp = join(dir, 'tmp', name);
    try {
      await pipeline(await openWal(this.o.store, this.o.plan.get(name)!, this.o.identities), createWriteStream(tmp, { mode: 0o600 }));
      if (owner) await chown(tmp, owner.uid, owner.gid);
      this.taken.delete(name);
      await rename(tmp, join(dir, 'ready', name));
      this.placed.add(name);
    } catch (err) {
      await rm(tmp, { force: true });
      this.failure ??= new Error(`WAL file ${name}: ${errorMessage(err)}`);
      this.o.log.error({ wal: name, err: errorMessage(err) }, 'could not fetch WAL for the recovering server');
      await writeFile(join(dir, 'failed', name), '');
      if (owner) await chown(join(dir, 'failed', name), owner.uid, owner.gid).catch(() => undefined);
    }
  }

  /** Whether anything is still staged and not taken (for the report). */
  async leftover(): Promise<number> {
    return (await readdir(join(this.o.dir, 'ready')).catch(() => [])).length;
  }
}

function restoreCommandScript(dir: string): string {
  const d = shellQuote(dir);
  return `#!/bin/sh
# restore_command of a gushen-dr point-in-time recovery (written and removed by gushen-dr restore --to-time).
# It asks the restore process for WAL file $1 and copies it to $2; a name the store does not have fails at once.
d=${d}
grep -qxF -- "$1" "$d/plan" || exit 1
: > "$d/req/$1"
i=0
while [ ! -e "$d/ready/$1" ]; do
  if [ -e "$d/failed/$1" ]; then rm -f "$d/req/$1"; exit 1; fi
  i=$((i + 1))
  if [ "$i" -gt ${FETCH_WAIT_SECONDS * 10} ]; then rm -f "$d/req/$1"; exit 1; fi
  sleep 0.1
done
cp "$d/ready/$1" "$2" || exit 1
rm -f "$d/req/$1" "$d/ready/$1"
`;
}

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export async function isEmptyOrMissingDir(path: string): Promise<boolean> {
  const st = await stat(path).catch(() => undefined);
  if (!st) return true;
  return st.isDirectory() && (await readdir(path)).length === 0;
}
