/**
 * The replication connection's password (wal-archive, base backups). Before: `pitr.url` could take no password file
 * (the replication password was the one credential left in the Kubernetes environment), and without `pitr.url` the
 * archiver connected with the source's URL but ignored `sources.postgres.passwordFile`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresSourceConfig } from '../../src/sources/postgres/config.js';
import { replicationUrl } from '../../src/sources/postgres/pitr/replication.js';

describe('replicationUrl: which URL and which password file', () => {
  let dir: string;
  let mainPw: string;
  let replPw: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gdr-repl-url-'));
    mainPw = join(dir, 'main');
    replPw = join(dir, 'repl');
    await writeFile(mainPw, 'main secret\n');
    await writeFile(replPw, 'r€pl:p@ss\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const cfg = (c: { url?: string; passwordFile?: 'main'; pitrUrl?: string; pitrPasswordFile?: 'repl' }) =>
    ({
      url: c.url ?? 'postgres://backup@db:5432/gushen',
      passwordFile: c.passwordFile ? mainPw : undefined,
      pitr: { enabled: true, url: c.pitrUrl, passwordFile: c.pitrPasswordFile ? replPw : undefined },
    }) as unknown as PostgresSourceConfig;

  it.each([
    ['pitr.url with pitr.passwordFile', { pitrUrl: 'postgres://repl@db:5432/', pitrPasswordFile: 'repl' as const }, 'repl', 'r€pl:p@ss'],
    ['pitr.url alone (PGPASSWORD/PGPASSFILE or trust)', { pitrUrl: 'postgres://repl@db:5432/' }, 'repl', ''],
    ['pitr.url ignores the source password file (another role)', { pitrUrl: 'postgres://repl@db:5432/', passwordFile: 'main' as const }, 'repl', ''],
    ['no pitr.url: the source URL with the source password file', { passwordFile: 'main' as const }, 'backup', 'main secret'],
  ])('%s', (_name, c, user, password) => {
    const u = new URL(replicationUrl(cfg(c)));
    expect(u.username).toBe(user);
    expect(decodeURIComponent(u.password)).toBe(password);
  });

  it.each([
    ['a pitr.url', { pitrUrl: 'postgres://repl:inline@db:5432/', pitrPasswordFile: 'repl' as const }],
    // As for the backup's own connections (the archiver used to take the URL's and ignore the file).
    ['the source URL', { url: 'postgres://backup:inline@db:5432/gushen', passwordFile: 'main' as const }],
  ])('%s with a password of its own and a password file is refused, naming neither secret', (_name, c) => {
    expect(() => replicationUrl(cfg(c))).toThrow(/has a password and a password file .* keep the password in the file only/);
    expect(() => replicationUrl(cfg(c))).not.toThrow(/inline|r€pl|main secret/);
  });
});
