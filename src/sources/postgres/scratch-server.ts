import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { OperationError, errorMessage } from '../../util/errors.js';
import { freeLocalPort } from '../../util/ports.js';
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
 * A private PostgreSQL server in a temp directory, trust auth on 127.0.0.1 only. PostgreSQL refuses to run as
 * root, so as root it runs as the `postgres` user.
 */
export async function startScratchPostgres(binDir: string): Promise<ScratchServer> {
  const base = await mkdtemp(join(tmpdir(), 'gushen-dr-drill-pg-'));
  const data = join(base, 'data');
  const sock = join(base, 'sock');
  await mkdir(data, { mode: 0o700 });
  await mkdir(sock);
  const asRoot = process.getuid?.() === 0;
  const as = (cmd: string, args: string[]) => (asRoot ? run('runuser', ['-u', 'postgres', '--', cmd, ...args]) : run(cmd, args));
  try {
    if (asRoot) {
      await chmod(base, 0o755);
      const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
      const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
      for (const d of [base, data, sock]) await chown(d, uid, gid);
    }
    await as(join(binDir, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8']);
    const port = await freeLocalPort();
    const opts = `-p ${port} -k ${sock} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off`;
    await as(join(binDir, 'pg_ctl'), ['-D', data, '-o', opts, '-l', join(base, 'log'), '-w', '-t', '60', 'start']);
    return {
      url: `postgres://postgres@127.0.0.1:${port}/`,
      where: `postgres://postgres@127.0.0.1:${port}/ (data ${data}; stop: pg_ctl -D ${data} stop)`,
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

