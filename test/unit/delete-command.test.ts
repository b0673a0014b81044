import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../src/cli.js';
import { deleteCommand, type DeleteIo } from '../../src/commands/delete.js';
import type { Env } from '../../src/commands/common.js';
import { serializeManifest } from '../../src/repository/manifest-json.js';
import { parseConfig } from '../../src/sources/registry.js';
import { FileStore } from '../../src/store/file.js';
import { ObjectLockedError } from '../../src/store/types.js';
import { OperationError, UsageError } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/log.js';
import { syntheticManifest, writeSyntheticBackup } from '../support/synthetic-backups.js';
import { tempDir } from '../support/tmp.js';

const R = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
const OLD = '20261101T020000Z-nightly'; // full, older
const FULL = '20261110T020000Z-nightly'; // full: newest copy of redis
const PARTIAL = '20261120T020000Z-manual'; // --only postgres: newest copy of postgres
const FAILED = '20261121T020000Z-manual';

/** A file store that records deletions in order, and can refuse some keys like S3 Object Lock. */
class RecordingStore extends FileStore {
  readonly deleted: string[] = [];
  readonly locked = new Set<string>();
  override async delete(key: string): Promise<void> {
    if (this.locked.has(key)) throw new ObjectLockedError(key, new Date('2027-01-01T00:00:00Z'));
    this.deleted.push(key);
    return super.delete(key);
  }
}

let dir: { path: string; cleanup: () => Promise<void> };
let store: RecordingStore;
let env: Env;
let stdout: string[];
const noTty: DeleteIo = { interactive: false, ask: () => Promise.reject(new Error('must not ask')) };
const tty = (answer: string): DeleteIo & { asked: string[] } => {
  const asked: string[] = [];
  return { interactive: true, asked, ask: async (q) => (asked.push(q), answer) };
};

beforeEach(async () => {
  dir = await tempDir();
  store = new RecordingStore(join(dir.path, 'store'));
  const config = parseConfig(
    `store: { url: "file://${join(dir.path, 'store')}" }\nencryption: { recipients: [${R}] }\nsources:\n  postgres: { url: "postgres://u@h:5432/", databases: [gushen] }\n  redis: { url: "redis://h" }\n`,
    {},
    'cfg',
  );
  env = { config, store, log: silentLogger, output: 'table' };
  await writeSyntheticBackup(store, OLD, ['postgres', 'redis']);
  await writeSyntheticBackup(store, FULL, ['postgres', 'redis']);
  await writeSyntheticBackup(store, PARTIAL, ['postgres']);
  await writeSyntheticBackup(store, FAILED, ['postgres', 'redis'], { status: 'Failed' });
  stdout = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (stdout.push(String(chunk)), true));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await dir.cleanup();
});

const keysOf = async (id: string) => (await store.list(`backups/${id}/`)).map((o) => o.key);
const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as Error);

describe('gushen-dr delete <id>', () => {
  it('without a terminal needs --yes: exit 2 before reading or deleting anything', async () => {
    const err = await failure(deleteCommand(env, OLD, {}, noTty));
    expect(err).toBeInstanceOf(UsageError);
    expect(err?.message).toMatch(/not a terminal.*--yes/);
    expect(await keysOf(OLD)).toHaveLength(3);
  });

  it('asks on a terminal: "n" keeps the backup (exit 1), "y" deletes it, manifest first', async () => {
    const no = tty('n');
    expect(await deleteCommand(env, OLD, {}, no)).toBe(1);
    expect(no.asked[0]).toMatch(new RegExp(`^Delete backup ${OLD} \\(Completed, 3 objects, .*\\)\\? .*\\[y/N\\] $`));
    expect(await keysOf(OLD)).toHaveLength(3);
    expect(await deleteCommand(env, OLD, {}, tty('y'))).toBe(0);
    expect(await keysOf(OLD)).toEqual([]);
    expect(store.deleted[0]).toBe(`backups/${OLD}/manifest.json`);
    expect(store.deleted).toHaveLength(3);
  });

  it('--yes deletes a Failed backup without asking', async () => {
    expect(await deleteCommand(env, FAILED, { yes: true }, noTty)).toBe(0);
    expect(await keysOf(FAILED)).toEqual([]);
  });

  it('refuses the newest Completed copy of a source without --force (exit 2), naming the source; --force deletes it', async () => {
    const err = await failure(deleteCommand(env, FULL, { yes: true }, noTty));
    expect(err).toBeInstanceOf(UsageError);
    expect(err?.message).toBe(`delete ${FULL}: it is the newest Completed copy of redis; add --force to delete it anyway`);
    const partial = await failure(deleteCommand(env, PARTIAL, { yes: true }, noTty));
    expect(partial?.message).toMatch(/newest Completed copy of postgres/);
    expect(store.deleted).toEqual([]);
    expect(await deleteCommand(env, FULL, { yes: true, force: true }, noTty)).toBe(0);
    expect(await keysOf(FULL)).toEqual([]);
  });

  it('refuses a backup whose manifest cannot be read without --force', async () => {
    const v2 = JSON.stringify({ ...JSON.parse(serializeManifest(syntheticManifest(OLD, ['postgres', 'redis']))), formatVersion: 3 });
    await writeFile(join(dir.path, 'store', 'backups', OLD, 'manifest.json'), v2);
    const err = await failure(deleteCommand(env, OLD, { yes: true }, noTty));
    expect(err).toBeInstanceOf(UsageError);
    expect(err?.message).toMatch(/manifest cannot be read \(.*formatVersion 3.*\).*--force/);
    expect(await deleteCommand(env, OLD, { yes: true, force: true }, noTty)).toBe(0);
    expect(await keysOf(OLD)).toEqual([]);
  });

  it('--dry-run lists the objects and deletes nothing, without asking', async () => {
    expect(await deleteCommand(env, OLD, { dryRun: true }, noTty)).toBe(0);
    expect(stdout.join('')).toContain(`would delete backup ${OLD}`);
    expect(stdout.join('')).toContain(`backups/${OLD}/redis/dump.rdb.zst.age`);
    expect(store.deleted).toEqual([]);
  });

  it('bad and unknown ids: "latest" and garbage are usage errors, a missing backup an operation error', async () => {
    for (const id of ['latest', '../etc', '20261101T020000Z-Nightly']) expect(await failure(deleteCommand(env, id, { yes: true }, noTty))).toBeInstanceOf(UsageError);
    const missing = await failure(deleteCommand(env, '20261102T020000Z-nightly', { yes: true }, noTty));
    expect(missing).toBeInstanceOf(OperationError);
    expect(missing?.message).toMatch(/not found/);
  });

  it('a manifest under Object Lock keeps the whole backup: exit 1, nothing else deleted', async () => {
    store.locked.add(`backups/${OLD}/manifest.json`);
    expect(await deleteCommand(env, OLD, { yes: true }, noTty)).toBe(1);
    expect(await keysOf(OLD)).toHaveLength(3);
    expect(stdout.join('')).toMatch(/locked: backups\/.*manifest\.json until 2027-01-01/);
  });
});

describe('the CLI', () => {
  it('registers delete: without a terminal and --yes it exits 2; with --yes it deletes', async () => {
    const cfg = join(dir.path, 'gushen-dr.yaml');
    await writeFile(
      cfg,
      `store: { url: "file://${join(dir.path, 'store')}" }\nencryption: { recipients: [${R}] }\nsources:\n  postgres: { url: "postgres://u@h:5432/", databases: [gushen] }\n  redis: { url: "redis://h" }\n`,
    );
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(process.stdin.isTTY).not.toBe(true);
    expect(await runCli(['node', 'gushen-dr', '--config', cfg, '--log-level', 'silent', 'delete', OLD])).toBe(2);
    expect(await keysOf(OLD)).toHaveLength(3);
    expect(await runCli(['node', 'gushen-dr', '--config', cfg, '--log-level', 'silent', 'delete', OLD, '--yes'])).toBe(0);
    expect(await keysOf(OLD)).toEqual([]);
  });

  it('backup --schedule refuses a name the config does not have (exit 2) and writes nothing', async () => {
    const cfg = join(dir.path, 'gushen-dr.yaml');
    await writeFile(
      cfg,
      `store: { url: "file://${join(dir.path, 'store2')}" }\nencryption: { recipients: [${R}] }\nsources:\n  postgres: { url: "postgres://u@h:5432/", databases: [gushen] }\nschedules:\n  hourly: { cron: "0 * * * *", only: [postgres], retention: { keepLast: 24 } }\n`,
    );
    const stderr: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => (stderr.push(String(c)), true));
    expect(await runCli(['node', 'gushen-dr', '--config', cfg, '--log-level', 'silent', 'backup', '--schedule', 'weekly'])).toBe(2);
    expect(stderr.join('')).toContain('--schedule weekly: no such schedule (known: manual, nightly, monthly, hourly;');
    expect(await new FileStore(join(dir.path, 'store2')).list('')).toEqual([]);
  });
});
