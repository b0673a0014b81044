import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { generateX25519Identity, parseIdentity } from '../../src/crypto/index.js';
import { runBackup } from '../../src/engine/backup.js';
import { runRestore } from '../../src/engine/restore.js';
import { verifyBackup } from '../../src/engine/verify.js';
import type { Manifest } from '../../src/repository/manifest.js';
import { parseConfig } from '../../src/sources/registry.js';
import { FileStore } from '../../src/store/file.js';
import { silentLogger } from '../../src/util/log.js';
import { STAGE_MARKER, createStageDir, removeStaleStageDirs } from '../../src/util/stage-dir.js';
import { REPO_ROOT } from '../support/cli-process.js';
import { killProcess } from '../support/ports.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { tempDir } from '../support/tmp.js';

/** A separate process that stages "decrypted data" the way restores do, prints the directory, and waits. */
async function stagingProcess(scratch: string): Promise<{ proc: ChildProcess; dir: string }> {
  const mod = pathToFileURL(join(REPO_ROOT, 'src/util/stage-dir.ts')).href;
  const code = `const m = await import(${JSON.stringify(mod)}); const fs = await import('node:fs/promises');
    const d = await m.createStageDir(process.argv[1]); await fs.writeFile(d + '/postgres_gushen.dump', 'decrypted rows');
    process.stdout.write(d + '\\n'); setInterval(() => {}, 1000);`;
  const proc = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', code, '--', scratch], { stdio: ['ignore', 'pipe', 'inherit'] });
  const dir = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('\n')) resolve(out.trim());
    });
    proc.once('exit', (c) => reject(new Error(`staging process exited with ${c}`)));
  });
  return { proc, dir };
}

describe('stage directories: one owner, and what a killed run leaves is removed by the next', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let redis: TestRedis;
  let target: TestRedis;
  let live: ChildProcess | undefined;
  const key = generateX25519Identity();
  const store = () => new FileStore(join(tmp.path, 'store'));
  let config: ReturnType<typeof parseConfig>;
  let manifest: Manifest;

  beforeAll(async () => {
    tmp = await tempDir();
    [redis, target] = await Promise.all([startRedis({ save: '', appendonly: false }), startRedis({ save: '', appendonly: false })]);
    await redis.client().set('k', 'v');
    config = parseConfig(`store: {url: "file://${tmp.path}/store"}\nencryption: {recipients: [${key.recipient}]}\nsources: {redis: {url: "${redis.url}", method: file}}`);
    manifest = await runBackup({ config, store: store(), schedule: 'manual', log: silentLogger });
    expect(manifest.status).toBe('Completed');
  });
  afterAll(async () => {
    await killProcess(live);
    await Promise.all([redis?.stop(), target?.stop()]);
    await tmp?.cleanup();
  });

  it('a stage directory is private (0700) and names its owner', async () => {
    const d = await createStageDir(tmp.path);
    expect(basename(d)).toMatch(new RegExp(`^gushen-dr-stage-${process.pid}-[0-9a-f]{12}$`));
    expect((await stat(d)).mode & 0o777).toBe(0o700);
    const owner = JSON.parse(await readFile(join(d, STAGE_MARKER), 'utf8'));
    expect(owner).toMatchObject({ pid: process.pid, startTicks: expect.any(Number) });
    expect(await removeStaleStageDirs([tmp.path])).toEqual([]);
  });

  it('a restore removes the stage directories of dead processes (killed, or a reused pid) and keeps the live ones', async () => {
    const scratch = join(tmp.path, 'scratch');
    await mkdir(scratch);
    const killed = await stagingProcess(scratch);
    await killProcess(killed.proc); // SIGKILL: it cannot clean up
    const alive = await stagingProcess(scratch);
    live = alive.proc;
    // Our own pid, but the marker's start time is another process's: the pid was reused.
    const reused = await createStageDir(scratch);
    const marker = JSON.parse(await readFile(join(reused, STAGE_MARKER), 'utf8'));
    await writeFile(join(reused, STAGE_MARKER), JSON.stringify({ ...marker, startTicks: marker.startTicks + 1 }));
    // Another host's (a shared volume), and a directory that is not a stage directory: not ours to judge.
    const elsewhere = await createStageDir(scratch);
    await writeFile(join(elsewhere, STAGE_MARKER), JSON.stringify({ ...marker, host: 'some-other-host', pid: 999_999 }));
    await mkdir(join(scratch, 'gushen-dr-stage-legacy'));
    expect((await readdir(scratch)).length).toBe(5);

    const report = await runRestore({
      store: store(),
      manifest,
      identities: [parseIdentity(key.identity)],
      config,
      log: silentLogger,
      only: ['redis'],
      redis: { redisUrl: target.url },
      scratchDir: scratch,
    });
    expect(report.failed).toBe(0);
    expect(await target.client().get('k')).toBe('v');
    // The restore's own staging is gone too.
    expect((await readdir(scratch)).sort()).toEqual([basename(alive.dir), basename(elsewhere), 'gushen-dr-stage-legacy'].sort());
    expect(await readFile(join(alive.dir, 'postgres_gushen.dump'), 'utf8')).toBe('decrypted rows');
  });

  it('verify --deep removes them too', async () => {
    const scratch = join(tmp.path, 'scratch-verify');
    await mkdir(scratch);
    const killed = await stagingProcess(scratch);
    await killProcess(killed.proc);
    expect(await readdir(scratch)).toEqual([basename(killed.dir)]);
    const results = await verifyBackup({ store: store(), manifest, config, log: silentLogger, deep: { identities: [parseIdentity(key.identity)], scratchDir: scratch } });
    expect(results.every((r) => r.ok)).toBe(true);
    expect(await readdir(scratch)).toEqual([]);
  });
});
