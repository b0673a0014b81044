/**
 * Passwords for PostgreSQL and Redis: where they may come from (URL, password file, PGPASSWORD, PGPASSFILE), that
 * they reach a child process only through its environment, and that every URL shown in a log or an error is
 * redacted, including libpq's `?password=` and passwords with unencoded `#?/@`.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectPg, pgConnection, pgServerDisplay, pgUrlWithPasswordFile, secretsOf, spawnPgTool, type LocatedTool } from '../../src/sources/postgres/tools.js';
import { pgpassPassword } from '../../src/sources/postgres/pgpass.js';
import { parseRedisUrl } from '../../src/sources/redis/client.js';
import { postgresSource } from '../../src/sources/postgres/index.js';
import { redisSource } from '../../src/sources/redis/index.js';
import { testManifest } from '../support/manifest.js';
import { UsageError } from '../../src/util/errors.js';
import { readPasswordFile } from '../../src/util/password-file.js';
import { redactUrl } from '../../src/util/redact.js';
import { tempDir } from '../support/tmp.js';

/** Every password below has the characters that need percent-encoding in a URL. */
const PW = 'Pw#with?all/the@chars:x';
const ENC = encodeURIComponent(PW);

describe('redactUrl', () => {
  it('hides a userinfo password, percent-encoded or not', () => {
    expect(redactUrl(`postgres://app:${ENC}@db:5432/gushen`)).toBe('postgres://app:***@db:5432/gushen');
    expect(redactUrl('redis://:s3cret-pw@127.0.0.1:6379')).toBe('redis://:***@127.0.0.1:6379');
  });

  it("hides libpq's ?password= and &sslpassword= parameters", () => {
    expect(redactUrl(`postgres://app@db/gushen?password=${ENC}`)).toBe('postgres://app@db/gushen?password=***');
    expect(redactUrl(`postgres://app@db/gushen?sslmode=require&password=${ENC}&connect_timeout=5`)).toBe('postgres://app@db/gushen?sslmode=require&password=***&connect_timeout=5');
    expect(redactUrl('postgres://app@db/gushen?sslpassword=key-secret')).toBe('postgres://app@db/gushen?sslpassword=***');
    expect(redactUrl(`postgres:///gushen?host=/run/pg&password=${ENC}`)).toBe('postgres:///gushen?host=/run/pg&password=***');
  });

  it('hides a password written without percent-encoding, whatever the URL parser makes of it', () => {
    for (const url of [`postgres://app:${PW}@db:5432/gushen`, 'postgres://app:12#x@db/gushen', 'postgres://app:12?x@db/gushen', 'redis://:p/w@h@127.0.0.1:6379']) {
      const out = redactUrl(url);
      expect(out, url).toMatch(/^(postgres|redis):\/\/(app)?:\*\*\*@/);
      for (const part of ['with?all', '12#x', '12?x', 'p/w@h']) expect(out, url).not.toContain(part);
    }
  });

  it('leaves URLs without credentials as they are', () => {
    expect(redactUrl('postgres://app@db:5432/gushen?sslmode=require')).toBe('postgres://app@db:5432/gushen?sslmode=require');
    expect(redactUrl('postgres:///postgres?host=%2Ftmp%2Fx&user=postgres')).toBe('postgres:///postgres?host=%2Ftmp%2Fx&user=postgres');
  });
});

describe('pgConnection: the password goes into PGPASSWORD, never into the connection string', () => {
  const saved = { PGPASSWORD: process.env.PGPASSWORD, PGPASSFILE: process.env.PGPASSFILE };
  afterEach(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('moves ?password= out of the URL into the environment', () => {
    const c = pgConnection(`postgres://app@db:5432/x?sslmode=require&password=${ENC}`, 'gushen');
    expect(c.connString).toBe('postgres://app@db:5432/gushen?sslmode=require');
    expect(c.env.PGPASSWORD).toBe(PW);
    expect(c.password).toBe(PW);
  });

  it('moves a percent-encoded userinfo password into the environment', () => {
    const c = pgConnection(`postgres://app:${ENC}@db:5432/x`, 'gushen');
    expect(c.connString).toBe('postgres://app@db:5432/gushen');
    expect(c.env.PGPASSWORD).toBe(PW);
  });

  it('keeps the inherited PGPASSWORD and PGPASSFILE when the URL has no password', () => {
    process.env.PGPASSWORD = 'inherited-pw';
    process.env.PGPASSFILE = '/secure/pgpass';
    const c = pgConnection('postgres://app@db:5432/', 'gushen');
    expect(c.env.PGPASSWORD).toBe('inherited-pw');
    expect(c.env.PGPASSFILE).toBe('/secure/pgpass');
    expect(c.password).toBeUndefined();
    // The URL's own password wins over the inherited one.
    expect(pgConnection(`postgres://app:${ENC}@db/`, 'gushen').env.PGPASSWORD).toBe(PW);
  });

  it('keeps a Unix socket host in the query and the server display', () => {
    const c = pgConnection('postgres:///postgres?host=%2Ftmp%2Fs&user=postgres', 'gushen');
    expect(c.connString).toBe('postgres:///gushen?host=%2Ftmp%2Fs&user=postgres');
    expect(c.user).toBe('postgres');
    expect(pgServerDisplay(`postgres://app:${ENC}@db:5432/gushen?sslmode=require`)).toBe('postgres://app:***@db:5432/?sslmode=require');
  });

  it('secretsOf lists the query password and the inherited PGPASSWORD for redaction', () => {
    process.env.PGPASSWORD = 'inherited-pw';
    expect(secretsOf(`postgres://app@db/?password=${ENC}`)).toEqual(expect.arrayContaining(['inherited-pw', PW]));
  });

  it('redacts the inherited PGPASSWORD from a tool’s captured stderr', async () => {
    const sh: LocatedTool = { name: 'psql', path: '/bin/sh', version: { full: '15', major: 15 } };
    process.env.PGPASSWORD = 'Inherited-Secret-7';
    const conn = pgConnection('postgres://app@127.0.0.1:1/', 'x');
    const { done } = spawnPgTool(sh, ['-c', 'echo "psql: error: password $PGPASSWORD refused" >&2; exit 2'], conn);
    const run = await done;
    expect(run.stderr).toContain('password *** refused');
    expect(run.stderr).not.toContain('Inherited-Secret-7');
  });
});

describe('password files', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let file: string;
  beforeAll(async () => {
    dir = await tempDir();
    file = join(dir.path, 'pw');
    await writeFile(file, `${PW}\n`, { mode: 0o600 });
  });
  afterAll(() => dir?.cleanup());

  it('reads the text as it is, less one trailing newline; refuses empty and multi-line files without echoing them', async () => {
    expect(readPasswordFile(file)).toBe(PW);
    const crlf = join(dir.path, 'crlf');
    await writeFile(crlf, `${PW}\r\n`);
    expect(readPasswordFile(crlf)).toBe(PW);
    const empty = join(dir.path, 'empty');
    await writeFile(empty, '\n');
    expect(() => readPasswordFile(empty)).toThrow(/is empty/);
    const two = join(dir.path, 'two');
    await writeFile(two, `${PW}\nsecond-line-secret\n`);
    expect(() => readPasswordFile(two)).toThrow(UsageError);
    expect(() => readPasswordFile(two)).not.toThrow(/second-line-secret|with\?all/);
    expect(() => readPasswordFile(join(dir.path, 'missing'))).toThrow(/missing/);
  });

  it('PostgreSQL: the raw password reaches PGPASSWORD, with a host in the userinfo, without one as ?password=', () => {
    const withHost = pgUrlWithPasswordFile('postgres://app@db:5432/', file);
    expect(pgConnection(withHost, 'gushen')).toMatchObject({ connString: 'postgres://app@db:5432/gushen', password: PW });
    expect(redactUrl(withHost)).not.toContain('with');
    const socket = pgUrlWithPasswordFile('postgres:///postgres?host=%2Ftmp%2Fs', file);
    expect(pgConnection(socket, 'gushen')).toMatchObject({ connString: 'postgres:///gushen?host=%2Ftmp%2Fs', password: PW });
    expect(redactUrl(socket)).toBe('postgres:///postgres?host=%2Ftmp%2Fs&password=***');
    expect(pgUrlWithPasswordFile('postgres://app@db/', undefined)).toBe('postgres://app@db/');
  });

  it('a URL with a password of its own and a password file is refused, naming neither password', () => {
    for (const url of ['postgres://app:url-secret@db/', 'postgres://app@db/?password=url-secret']) {
      expect(() => pgUrlWithPasswordFile(url, file)).toThrow(UsageError);
      expect(() => pgUrlWithPasswordFile(url, file)).not.toThrow(/url-secret|with\?all/);
    }
    expect(() => parseRedisUrl('redis://:url-secret@h:6379', 'sources.redis.url', { passwordFile: file })).toThrow(UsageError);
    expect(() => parseRedisUrl('redis://:url-secret@h:6379', 'sources.redis.url', { passwordFile: file })).not.toThrow(/url-secret/);
  });

  it('Redis: from the file raw, from the URL percent-encoded', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379', 'x', { passwordFile: file }).password).toBe(PW);
    expect(parseRedisUrl('redis://default@127.0.0.1:6379/2', 'x', { passwordFile: file })).toMatchObject({ username: 'default', password: PW, db: 2 });
    const ep = parseRedisUrl(`redis://:${ENC}@127.0.0.1:6379`);
    expect(ep.password).toBe(PW);
    expect(ep.display).toBe('redis://:***@127.0.0.1:6379');
  });

  it('restore flags: --pg-password-file and --redis-password-file become the options, checked before anything is restored', () => {
    expect(postgresSource.restoreFlags.map((f) => f.flags)).toContain('--pg-password-file <file>');
    expect(redisSource.restoreFlags.map((f) => f.flags)).toContain('--redis-password-file <file>');
    const common = { force: false, dryRun: false };
    const pgOpts = postgresSource.restoreOptions({ pgUrl: 'postgres://app@db/', pgPasswordFile: file }, common);
    expect(pgOpts.passwordFile).toBe(file);
    const redisOpts = redisSource.restoreOptions({ redisUrl: 'redis://h:6379', redisPasswordFile: file }, common);
    expect(redisOpts.passwordFile).toBe(file);
    const m = testManifest('20260301T020000Z-manual', []);
    expect(() => postgresSource.checkRestoreOptions(m, pgOpts)).not.toThrow();
    expect(() => postgresSource.checkRestoreOptions(m, { ...pgOpts, passwordFile: join(dir.path, 'missing') })).toThrow(UsageError);
    expect(() => postgresSource.checkRestoreOptions(m, { ...pgOpts, pgUrl: 'postgres://app:url-secret@db/' })).toThrow(/keep the password in the file only/);
    expect(() => redisSource.checkRestoreOptions(m, { ...redisOpts, passwordFile: join(dir.path, 'missing') })).toThrow(UsageError);
    expect(() => redisSource.checkRestoreOptions(m, { ...redisOpts, redisUrl: 'redis://:url-secret@h:6379' })).toThrow(/keep the password in the file only/);
  });
});

describe('pgpassPassword: the password file libpq reads (PGPASSFILE)', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(() => dir?.cleanup());
  const q = { host: '127.0.0.1', port: '5433', database: 'gushen', user: 'app' };

  it('matches host, port, database and user, with * and \\ escapes; the first matching line wins', async () => {
    const f = join(dir.path, 'pgpass');
    const escaped = PW.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
    await writeFile(
      f,
      ['# comment', 'otherhost:*:*:app:wrong', `127.0.0.1:5433:*:app:${escaped}`, '*:*:*:*:fallback', 'localhost:5432:gushen:app:socket-pw', ''].join('\n'),
      { mode: 0o600 },
    );
    const env = { PGPASSFILE: f };
    expect(pgpassPassword(q, env)).toBe(PW);
    expect(pgpassPassword({ ...q, port: '5432' }, env)).toBe('fallback');
    expect(pgpassPassword({ ...q, host: '', port: '5432' }, env)).toBe('fallback');
    await writeFile(f, 'localhost:5432:gushen:app:socket-pw\n', { mode: 0o600 });
    expect(pgpassPassword({ ...q, host: '', port: '' }, env)).toBe('socket-pw');
    expect(pgpassPassword({ ...q, host: '/var/run/postgresql', port: '5432' }, env)).toBe('socket-pw');
    expect(pgpassPassword({ ...q, user: 'other' }, env)).toBeUndefined();
  });

  it('ignores a file that group or others may read, like libpq', async () => {
    const f = join(dir.path, 'pgpass-open');
    await writeFile(f, '*:*:*:*:open-pw\n', { mode: 0o644 });
    expect(pgpassPassword(q, { PGPASSFILE: f })).toBeUndefined();
    expect(pgpassPassword(q, { PGPASSFILE: join(dir.path, 'none') })).toBeUndefined();
  });
});

describe('connection errors', () => {
  it('name the server without the ?password= value', async () => {
    const err = (await connectPg(`postgres://app@127.0.0.1:1/x?password=${ENC}`, 'gushen', 'test', { connectTimeoutMs: 5000 }).then(
      () => undefined,
      (e: unknown) => e,
    )) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toContain('127.0.0.1:1');
    expect(err.message).not.toContain(ENC);
    expect(err.message).not.toContain(PW);
  });
});
