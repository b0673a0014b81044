import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { restoreCommand } from '../../src/commands/restore.js';
import { generateX25519Identity } from '../../src/crypto/index.js';
import { runDrill } from '../../src/engine/drill/run.js';
import { parseConfig } from '../../src/sources/registry.js';
import type { Source } from '../../src/sources/source.js';
import { FileStore } from '../../src/store/file.js';
import { silentLogger } from '../../src/util/log.js';
import { writeSyntheticBackup } from '../support/synthetic-backups.js';
import { tempDir } from '../support/tmp.js';

/** A source that takes no part in the drill: enough to see which backup the drill selected. */
const fakeSource = (name: string) =>
  ({ name, title: name, artifactKinds: ['test'], factsSchema: z.looseObject({ type: z.string() }), restoreOrder: 1, drill: { prepare: async () => undefined } }) as unknown as Source;

let dir: { path: string; cleanup: () => Promise<void> };
let store: FileStore;
const FULL = '20261120T020000Z-manual';
const PARTIAL = '20261122T020000Z-manual';

beforeEach(async () => {
  dir = await tempDir();
  store = new FileStore(join(dir.path, 'store'));
  await writeSyntheticBackup(store, FULL, ['postgres', 'redis']);
  await writeSyntheticBackup(store, PARTIAL, ['postgres']); // backup --only postgres
});
afterEach(async () => {
  await dir.cleanup();
});

async function configWithIdentity() {
  const { identity, recipient } = generateX25519Identity();
  const identityFile = join(dir.path, 'id.txt');
  await writeFile(identityFile, `${identity}\n`, { mode: 0o600 });
  return parseConfig(
    `store: { url: "file://${join(dir.path, 'store')}" }\nencryption: { recipients: [${recipient}], identityFile: ${identityFile} }\nsources:\n  postgres: { url: "postgres://u@127.0.0.1:1/", databases: [gushen] }\n  redis: { url: "redis://127.0.0.1:1" }\n`,
    {},
    'cfg',
  );
}

describe('latest after a backup --only run (issue 16, defect 2)', () => {
  it('the drill selects the newest Completed backup holding every configured source, not the newer partial one', async () => {
    const config = await configWithIdentity();
    const report = await runDrill({ store, config, log: silentLogger, identities: [], registry: [fakeSource('postgres'), fakeSource('redis')] });
    // No identity is given, so the drill stops right after choosing (its report still names the backup it chose).
    expect(report.backup).toBe(FULL);
    expect(report.failure?.error).toContain(`backup ${FULL}: no identity matched`);
    expect(report.failure?.error).toContain('no identity was given');
  });

  it('restore --only redis latest chooses the newest Completed backup holding redis', async () => {
    const config = await configWithIdentity();
    const env = { config, store, log: silentLogger, output: 'json' as const };
    // The synthetic artifacts are not a real source's (kind "test"), so the restore stops right after choosing the
    // backup, with an error that names the one it chose.
    const err = await restoreCommand(env, 'latest', { only: ['redis'], dryRun: true, redisDataDir: join(dir.path, 'redis-data') }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(new RegExp(`^backup ${FULL}: artifact`));
  });
});
