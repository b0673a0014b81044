import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { OperationError, errorMessage } from '../../util/errors.js';
import type { ScratchServer } from '../shared/scratch-server.js';

const run = promisify(execFile);

/** The PostgreSQL server binaries: `binDir`, else the installed major ≥ `minMajor` closest to it. */
export async function findPostgresBinDir(minMajor: number, binDir?: string): Promise<string> {
  if (binDir) {
    if (!existsSync(join(binDir, 'initdb'))) throw new OperationError(`drill.binDir ${binDir}: no initdb there`);
    return binDir;
  }
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? (await readdir(root)).map(Number).filter((n) => n >= minMajor && existsSync(join(root, String(n), 'bin', 'initdb'))) : [];
  if (majors.length === 0) {
    throw new OperationError(
      `no PostgreSQL ${minMajor}+ server binaries for a throwaway drill server under ${root}; install postgresql-${minMajor} or set drill.postgres.url / drill.binDir`,
    );
  }
  return join(root, String(Math.min(...majors)), 'bin');
}

/**
 * A private PostgreSQL server in a temp directory that only its own user (and root) can reach: it listens on a
 * Unix socket alone (`listen_addresses = ''`, no TCP port), in a directory of mode 0700 owned by the server's
 * user, inside a base directory of mode 0700 as well; the socket itself is 0700. Restored production data stays
 * out of reach of other local users also while a drill with --keep leaves the server running. Inside that
 * directory authentication is `trust` (whoever gets there is the server's user or root). PostgreSQL refuses
 * to run as root, so as root it runs as the `postgres` user. The URL, `postgres:///postgres?host=<dir>&port=5432&user=postgres`,
 * carries no password.
 */
export async function startScratchPostgres(binDir: string): Promise<ScratchServer> {
  const base = await mkdtemp(join(tmpdir(), 'gushen-dr-drill-pg-'));
  const data = join(base, 'data');
  const sock = join(base, 'sock');
  await mkdir(data, { mode: 0o700 });
  await mkdir(sock, { mode: 0o700 });
  const asRoot = process.getuid?.() === 0;
  const as = (cmd: string, args: string[]) => (asRoot ? run('runuser', ['-u', 'postgres', '--', cmd, ...args]) : run(cmd, args));
  try {
    if (asRoot) {
      const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
      const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
      for (const d of [base, data, sock]) await chown(d, uid, gid);
    }
    for (const d of [base, data, sock]) await chmod(d, 0o700);
    await as(join(binDir, 'initdb'), ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=reject', '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8']);
    // The port only names the socket file (.s.PGSQL.5432): nothing listens on TCP.
    const opts = `-p 5432 -k ${sock} -c listen_addresses='' -c unix_socket_permissions=0700 -c fsync=off -c synchronous_commit=off`;
    await as(join(binDir, 'pg_ctl'), ['-D', data, '-o', opts, '-l', join(base, 'log'), '-w', '-t', '60', 'start']);
    // The port too: node-postgres would otherwise take PGPORT from the environment for the socket's name.
    const url = `postgres:///postgres?${new URLSearchParams({ host: sock, port: '5432', user: 'postgres' }).toString()}`;
    return {
      url,
      where: `Unix socket ${sock}/.s.PGSQL.5432 only, no TCP (directory 0700, ${asRoot ? 'owned by postgres; root' : 'this user'} can connect: psql -h ${sock} -U postgres; data ${data}; stop: pg_ctl -D ${data} stop)`,
      stop: async () => {
        await as(join(binDir, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
        await rm(base, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(base, { recursive: true, force: true });
    throw new OperationError(`could not start a throwaway PostgreSQL from ${binDir}: ${errorMessage(err)}`);
  }
}
