import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliProcess } from '../support/cli-process.js';
import { pitrEnv, startArchiver, startPitrServer, type PitrEnv, type PitrServer } from '../support/pitr.js';

interface Report {
  status: string;
  rpoSeconds: number;
  rpoBasis?: string;
  phases: Array<{ name: string; status: string; detail?: string }>;
  checks: Array<{ name: string; ok: boolean; actual?: string | number; detail?: string }>;
  cleanup: { done: boolean };
}

/** The drill with PITR enabled: the dumps as before, plus base backup + WAL recovered to latest; RPO from WAL. */
describe('drill with point-in-time recovery', () => {
  let server: PitrServer;
  let env: PitrEnv;

  beforeAll(async () => {
    [server, env] = await Promise.all([startPitrServer(), pitrEnv()]);
    await server.query('postgres', 'create database app');
    await server.query('app', 'create table t (id serial primary key, at timestamptz default now())');
  });
  afterAll(async () => {
    await Promise.all([server?.stop(), env?.cleanup()]);
  });

  it('recovers to latest in a throwaway directory, checks it answers, and reports the RPO of the archived WAL, not of the backup', async () => {
    const config = await env.writeConfig(server);
    const { p } = await startArchiver(config);
    try {
      await server.query('app', 'insert into t default values');
      const backup = await runCliProcess(['--config', config, 'backup']);
      expect(backup.code, backup.stderr).toBe(0);
      // Time passes and data is written after the backup: the backup's age grows, the WAL keeps up.
      for (let i = 0; i < 8; i++) {
        await server.query('app', 'insert into t default values');
        await new Promise((r) => setTimeout(r, 1000));
      }
      const drill = await runCliProcess(['--config', config, '-o', 'json', 'drill']);
      expect(drill.code, drill.stderr.slice(-3000)).toBe(0);
      const r = JSON.parse(drill.stdout) as Report;
      expect(r.status).toBe('Passed');
      const phase = r.phases.find((x) => x.name === 'postgres-pitr')!;
      expect(phase.status).toBe('ok');
      expect(phase.detail).toMatch(/latest: newest transaction \d{4}-.*; RPO \d+\.\d s/);
      expect(r.checks.find((c) => c.name === 'PITR: recovered to latest, starts and answers')).toMatchObject({ ok: true, actual: 'app' });
      expect(r.checks.find((c) => c.name === 'PITR: recovery point')?.ok).toBe(true);
      // The backup is more than 8 s old by now; the newest archived commit is about as old as the drill's wait.
      const backupAge = (Date.now() - Date.parse((JSON.parse((await runCliProcess(['--config', config, 'show', 'latest', '-o', 'json'])).stdout) as { startedAt: string }).startedAt)) / 1000;
      expect(r.rpoSeconds).toBeLessThan(backupAge - 5);
      // ... and the report says which of the two it measured (it said 'age of the backup' for both before).
      expect(r.rpoBasis).toBe('postgres: newest recovered commit');
      expect(r.cleanup.done).toBe(true);
    } finally {
      p.signal('SIGTERM');
      await p.exited;
    }
  });
});
