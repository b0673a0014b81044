import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactWriter } from '../../src/repository/artifact-writer.js';
import { ToolOutput } from '../../src/sources/postgres/dump-stream.js';
import { generateX25519Identity } from '../../src/crypto/index.js';
import { FileStore } from '../../src/store/file.js';
import { OperationError, UsageError } from '../../src/util/errors.js';
import {
  BoundedText,
  checkDumpToolVersion,
  checkRestoreVersions,
  locatePgTool,
  parseToolVersion,
  pgConnection,
  qualified,
  quoteIdent,
  serverMajor,
  spawnPgTool,
  stderrErrors,
  toolFailure,
  type LocatedTool,
} from '../../src/sources/postgres/tools.js';
import { tempDir } from '../support/tmp.js';

const tool = (name: LocatedTool['name'], full: string): LocatedTool => ({ name, path: `/opt/pg/bin/${name}`, version: parseToolVersion(`${name} (PostgreSQL) ${full}`) });

describe('PostgreSQL client tool versions', () => {
  it('parses --version output', () => {
    expect(parseToolVersion('pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)\n')).toEqual({ full: '15.20', major: 15 });
    expect(parseToolVersion('pg_restore (PostgreSQL) 17beta2')).toEqual({ full: '17beta2', major: 17 });
    expect(parseToolVersion('psql (PostgreSQL) 9.6.24')).toEqual({ full: '9.6.24', major: 9 });
    expect(() => parseToolVersion('something else 1.2')).toThrow(/unrecognised version output/);
  });

  it('server_version_num to major', () => {
    expect(serverMajor(150020)).toBe(15);
    expect(serverMajor(170000)).toBe(17);
    expect(serverMajor(90624)).toBe(9);
  });

  it('refuses a pg_dump older than the server, naming both versions', () => {
    expect(() => checkDumpToolVersion(tool('pg_dump', '16.4'), { full: '16.1', major: 16 })).not.toThrow();
    expect(() => checkDumpToolVersion(tool('pg_dump', '17.0'), { full: '15.3', major: 15 })).not.toThrow();
    const err = (() => {
      try {
        checkDumpToolVersion(tool('pg_dump', '15.20'), { full: '16.2 (Debian 16.2-1)', major: 16 });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/pg_dump 15\.20 \(\/opt\/pg\/bin\/pg_dump\) is older than the server \(PostgreSQL 16\.2 \(Debian 16\.2-1\)\)/);
    expect((err as Error).message).toContain('sources.postgres.binDir');
  });

  it('checks pg_restore against the archive and the target server', () => {
    const archive = { pgDumpVersion: '16.3', serverVersion: '16.3' };
    expect(() => checkRestoreVersions(tool('pg_restore', '16.3'), archive, { full: '16.1', major: 16 })).not.toThrow();
    expect(() => checkRestoreVersions(tool('pg_restore', '17.0'), archive, { full: '17.0', major: 17 })).not.toThrow();
    expect(() => checkRestoreVersions(tool('pg_restore', '15.20'), archive, { full: '15.20', major: 15 })).toThrow(/cannot read an archive written by pg_dump 16\.3/);
    expect(() => checkRestoreVersions(tool('pg_restore', '16.3'), archive, { full: '17.2', major: 17 })).toThrow(
      /pg_restore 16\.3 .* is older than the target server \(PostgreSQL 17\.2\)/,
    );
    expect(() => checkRestoreVersions(tool('pg_restore', '17.0'), archive, { full: '15.8', major: 15 })).toThrow(
      /target server runs PostgreSQL 15\.8 but the backup is of PostgreSQL 16\.3/,
    );
  });
});

describe('locating the binaries', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(() => dir?.cleanup());

  it('finds the installed PostgreSQL 15 tools by major version and reads their real version', async () => {
    for (const name of ['pg_dump', 'pg_restore', 'pg_dumpall', 'psql'] as const) {
      const t = await locatePgTool(name, { major: 15 });
      expect(t.path).toBe(`/usr/lib/postgresql/15/bin/${name}`);
      expect(t.version.major).toBe(15);
    }
    // Asked for an older major than installed, the newer one is used (pg_dump ≥ server is what matters).
    expect((await locatePgTool('pg_dump', { major: 13 })).version.major).toBe(15);
    // Asked for a newer one than installed, the newest there is is returned: the version check then refuses it.
    expect((await locatePgTool('pg_dump', { major: 18 })).version.major).toBe(15);
  });

  it('uses binDir exclusively when set, and says so when the tool is missing there', async () => {
    const t = await locatePgTool('pg_dump', { binDir: '/usr/lib/postgresql/15/bin' });
    expect(t.path).toBe('/usr/lib/postgresql/15/bin/pg_dump');
    await expect(locatePgTool('pg_dump', { binDir: dir.path })).rejects.toThrow(new UsageError(`pg_dump not found in binDir ${dir.path}`));
  });

  it('falls back to PATH when there is no per-version directory', async () => {
    const bin = join(dir.path, 'bin');
    await mkdir(bin);
    const t = await locatePgTool('psql', { root: join(dir.path, 'none'), path: `${bin}:/usr/lib/postgresql/15/bin` });
    expect(t.path).toBe('/usr/lib/postgresql/15/bin/psql');
    await expect(locatePgTool('psql', { root: join(dir.path, 'none'), path: bin, major: 16 })).rejects.toThrow(/psql \(PostgreSQL 16 or newer\) not found/);
  });
});

describe('connections keep the password off the command line', () => {
  it('splits a URL into a password-less connection string and PGPASSWORD', () => {
    const c = pgConnection('postgres://app%40x:p%40ss%2Fw0rd@db.example:6432/ignored?sslmode=require', 'gushen');
    expect(c.connString).toBe('postgres://app%40x@db.example:6432/gushen?sslmode=require');
    expect(c.env.PGPASSWORD).toBe('p@ss/w0rd');
    expect(c.password).toBe('p@ss/w0rd');
    expect(c.user).toBe('app@x');
    expect(c.database).toBe('gushen');
  });

  it('defaults the database to the URL path, then postgres; ignores inherited PG variables', () => {
    process.env.PGHOST = 'elsewhere';
    try {
      expect(pgConnection('postgres://u@h/app').database).toBe('app');
      const c = pgConnection('postgresql://u@h:5432/');
      expect(c.database).toBe('postgres');
      expect(c.env.PGPASSWORD).toBeUndefined();
      expect(c.env.PGHOST).toBeUndefined();
    } finally {
      delete process.env.PGHOST;
    }
  });

  it('rejects what is not a postgres URL without echoing the password', () => {
    expect(() => pgConnection('mysql://u:topsecret@h/db')).toThrow(UsageError);
    expect(() => pgConnection('mysql://u:topsecret@h/db')).not.toThrow(/topsecret/);
  });

  it('quotes identifiers', () => {
    expect(quoteIdent('orders')).toBe('"orders"');
    expect(quoteIdent('we"ird')).toBe('"we""ird"');
    expect(qualified('Trading', 'My Table')).toBe('"Trading"."My Table"');
  });
});

describe('judging a tool run', () => {
  it('finds error lines on stderr, not warnings', () => {
    const stderr = [
      'pg_dump: warning: there are circular foreign-key constraints on this table:',
      'pg_dump: error: query failed: ERROR:  permission denied for table secret',
      'psql:<stdin>:3: ERROR:  role "postgres" already exists',
      'FATAL:  the database system is shutting down',
      'NOTICE:  nothing',
    ].join('\n');
    expect(stderrErrors(stderr)).toEqual([
      'pg_dump: error: query failed: ERROR:  permission denied for table secret',
      'psql:<stdin>:3: ERROR:  role "postgres" already exists',
      'FATAL:  the database system is shutting down',
    ]);
  });

  it('describes exit codes, signals and stderr errors', () => {
    expect(toolFailure('pg_dump', { code: 0, signal: null, stderr: 'pg_dump: warning: x\n' })).toBeUndefined();
    expect(toolFailure('pg_dump', { code: 1, signal: null, stderr: 'pg_dump: error: connection failed\n' })).toBe('pg_dump exited with code 1: pg_dump: error: connection failed');
    expect(toolFailure('pg_dump', { code: null, signal: 'SIGKILL', stderr: '' })).toBe('pg_dump was killed by SIGKILL');
    expect(toolFailure('pg_dump', { code: 0, signal: null, stderr: 'pg_dump: error: odd\n' })).toBe('pg_dump reported errors: pg_dump: error: odd');
  });

  it('keeps only the tail of a long stderr', () => {
    const b = new BoundedText(10);
    for (const s of ['aaaa', 'bbbb', 'cccc', 'dddd']) b.push(s);
    expect(b.toString()).toBe('ccccdddd');
  });

  it('redacts the password from captured stderr', async () => {
    const sh: LocatedTool = { name: 'psql', path: '/bin/sh', version: { full: '0', major: 0 } };
    const { done } = spawnPgTool(sh, ['-c', 'echo "psql: error: bad password $PGPASSWORD" >&2; exit 2'], { env: { PATH: process.env.PATH, PGPASSWORD: 'Very-Secret-1' }, password: 'Very-Secret-1' });
    const run = await done;
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('bad password ***');
    expect(run.stderr).not.toContain('Very-Secret-1');
  });
});

describe('a dump tool that fails after writing output stores nothing', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(() => dir?.cleanup());

  const writeFrom = async (script: string) => {
    const store = new FileStore(join(dir.path, 'store'));
    const writer = new ArtifactWriter(store, '20260303T000000Z-manual', [generateX25519Identity().recipient]);
    const sh: LocatedTool = { name: 'pg_dump', path: '/bin/sh', version: { full: '0', major: 0 } };
    const { child, done } = spawnPgTool(sh, ['-c', script], { env: { PATH: process.env.PATH } });
    const result = await writer
      .write({ name: 'postgres/x.dump', source: 'postgres', kind: 'pg_dump-custom', compression: 'zstd' }, new ToolOutput(child, done, 'pg_dump'))
      .catch((e: unknown) => e);
    return { store, result };
  };

  it('non-zero exit after 2 MB of output', async () => {
    const { store, result } = await writeFrom('head -c 2000000 /dev/urandom; echo "pg_dump: error: Dumping the contents of table failed" >&2; exit 1');
    expect(result).toBeInstanceOf(OperationError);
    expect((result as Error).message).toMatch(/pg_dump exited with code 1: pg_dump: error: Dumping the contents of table failed/);
    expect(await store.list('')).toEqual([]);
    expect(await readdir(join(dir.path, 'store', '.tmp'))).toEqual([]);
  });

  it('exit 0 with an error on stderr', async () => {
    const { store, result } = await writeFrom('head -c 100000 /dev/urandom; echo "pg_dump: error: something broke" >&2; exit 0');
    expect((result as Error).message).toMatch(/pg_dump reported errors/);
    expect(await store.list('')).toEqual([]);
  });

  it('a clean exit stores the artifact', async () => {
    const { store, result } = await writeFrom('head -c 100000 /dev/zero');
    expect(result).toMatchObject({ size: 100000 });
    expect((await store.list('')).map((o) => o.key)).toEqual(['backups/20260303T000000Z-manual/postgres/x.dump.zst.age']);
  });

  it('a killed tool', async () => {
    const { store, result } = await writeFrom('head -c 100000 /dev/zero; kill -9 $$');
    expect((result as Error).message).toMatch(/pg_dump was killed by SIGKILL/);
    expect(await store.list('')).toEqual([]);
  });
});
