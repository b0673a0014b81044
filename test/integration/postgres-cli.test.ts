import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatIdentityFile, generateX25519Identity } from '../../src/crypto/index.js';
import { parseManifest } from '../../src/repository/manifest-json.js';
import { FileStore } from '../../src/store/file.js';
import { readObjectText } from '../../src/store/text.js';
import { countRows } from '../../src/sources/postgres/restore.js';
import { startCliProcess } from '../support/cli-process.js';
import { createPlatformDataset } from '../support/pg-dataset.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';
import { tempDir } from '../support/tmp.js';

const PASSWORD = 'CliPw9xQ';

/** `gushen-dr` as a user runs it: config file, password from the environment, exit codes. */
describe('gushen-dr backup / verify / restore --only postgres (CLI)', () => {
  let server: TestPostgres;
  let dir: { path: string; cleanup: () => Promise<void> };
  let store: FileStore;

  const cli = async (args: string[], env: Record<string, string> = {}) => {
    const p = startCliProcess(['--config', join(dir.path, 'gushen-dr.yaml'), ...args], { env: { PG_PASSWORD: PASSWORD, ...env } });
    const exit = await p.exited;
    return { code: exit.code, stdout: p.stdout(), stderr: p.stderr() };
  };

  const writeConfig = async (databases: string[]) => {
    await writeFile(
      join(dir.path, 'gushen-dr.yaml'),
      [
        'store:',
        `  url: file://${dir.path}/store`,
        'encryption:',
        `  recipientsFile: ${dir.path}/recipients.txt`,
        `  identityFile: ${dir.path}/identity.txt`,
        'sources:',
        '  postgres:',
        `    url: postgres://postgres:\${PG_PASSWORD}@127.0.0.1:${server.port}/`,
        `    databases: [${databases.join(', ')}]`,
        '',
      ].join('\n'),
    );
  };

  const manifests = async () => {
    const keys = (await store.list('backups/')).filter((o) => o.key.endsWith('/manifest.json'));
    return Promise.all(keys.map(async (k) => parseManifest(await readObjectText(store, k.key), k.key)));
  };

  beforeAll(async () => {
    [server, dir] = await Promise.all([startPostgres({ password: PASSWORD }), tempDir()]);
    store = new FileStore(join(dir.path, 'store'));
    await server.query('postgres', 'create database gushen');
    await createPlatformDataset(server.urlFor('gushen'), { rows: 20_000 });
    const key = generateX25519Identity();
    await writeFile(join(dir.path, 'identity.txt'), formatIdentityFile(key.identity, key.recipient, new Date()), { mode: 0o600 });
    await writeFile(join(dir.path, 'recipients.txt'), `${key.recipient}\n`);
  });

  afterAll(async () => {
    await Promise.all([server?.stop(), dir?.cleanup()]);
  });

  it('backs up, verifies deeply and restores into a new database; refuses the non-empty target without --force', async () => {
    await writeConfig(['gushen']);
    const backup = await cli(['backup', '--only', 'postgres']);
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stderr).not.toContain(PASSWORD);
    const [m] = await manifests();
    expect(m.status).toBe('Completed');
    expect(m.artifacts.map((a) => a.name)).toEqual(['postgres/globals.sql', 'postgres/gushen.dump']);

    const verify = await cli(['verify', 'latest', '--deep']);
    expect(verify.code, verify.stderr).toBe(0);

    const pgUrl = `postgres://postgres:${PASSWORD}@127.0.0.1:${server.port}/`;
    const restore = await cli(['restore', 'latest', '--only', 'postgres', '--pg-url', pgUrl, '--database', 'gushen_copy', '--jobs', '2']);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stderr).not.toContain(PASSWORD);
    const facts = m.artifacts.find((a) => a.name === 'postgres/gushen.dump')!.facts;
    expect(facts.type === 'postgres' && facts.tables).toEqual(await countRows(server.urlFor('gushen_copy')));

    const again = await cli(['restore', 'latest', '--only', 'postgres', '--pg-url', pgUrl, '--database', 'gushen_copy']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/refusing to restore into non-empty database/);
    expect(again.stderr).not.toContain(PASSWORD);
    const forced = await cli(['restore', 'latest', '--only', 'postgres', '--pg-url', pgUrl, '--database', 'gushen_copy', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
  });

  it('a missing database: non-zero exit, and the manifest does not claim success', async () => {
    await writeConfig(['gushen', 'not_there']);
    const before = (await manifests()).length;
    const r = await cli(['backup', '--only', 'postgres']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/database \\?"not_there\\?" does not exist/);
    const all = await manifests();
    expect(all).toHaveLength(before + 1);
    const m = all.sort((a, b) => (a.id < b.id ? -1 : 1)).at(-1)!;
    expect(m.status).toBe('PartiallyFailed');
    expect(m.failures.map((f) => f.artifact)).toEqual(['postgres/not_there.dump']);
  });

  it('a wrong password: non-zero exit, a clear message without the password, a Failed manifest', async () => {
    await writeConfig(['gushen']);
    await new Promise((r) => setTimeout(r, 1100)); // backup ids have one-second resolution
    const r = await cli(['backup', '--only', 'postgres'], { PG_PASSWORD: 'NotThePw1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/password authentication failed/);
    expect(r.stderr).not.toContain('NotThePw1');
    const m = (await manifests()).sort((a, b) => (a.id < b.id ? -1 : 1)).at(-1)!;
    expect(m.status).toBe('Failed');
    expect(m.artifacts).toEqual([]);
    const text = await readFile(join(dir.path, 'store', 'backups', m.id, 'manifest.json'), 'utf8');
    expect(text).not.toContain('NotThePw1');
  });
});
