import { createServer } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupMetrics, parseExposition, publishMetrics } from '../../src/observe/metrics.js';
import type { Manifest } from '../../src/repository/manifest.js';
import { silentLogger } from '../../src/util/log.js';
import { tempDir } from '../support/tmp.js';

/** Each test its own schedule: the metrics module keeps per-process totals by command and schedule. */
function manifest(schedule: string, status: Manifest['status'], failed: string[], n = 1): Manifest {
  const at = Date.parse('2026-03-01T02:00:00Z') + n * 86_400_000;
  const artifact = (source: string) => ({ name: `${source}/x`, source, kind: 'x', key: 'k', size: 1, sha256: 'a', compression: 'zstd', encryption: { format: 'age-encryption.org/v1', recipients: ['r'] }, stored: { size: 10, sha256: 'b' }, verifiedAt: new Date(at).toISOString(), facts: {} });
  return {
    formatVersion: 1,
    id: `2026030${n}T020000Z-${schedule}`,
    schedule,
    status,
    startedAt: new Date(at - 90_000).toISOString(),
    finishedAt: new Date(at).toISOString(),
    tool: { name: 'gushen-dr', version: 't' },
    host: 'h',
    sources: ['postgres', 'redis'],
    artifacts: ['postgres', 'redis'].filter((s) => !failed.includes(s)).map(artifact),
    failures: failed.map((source) => ({ source, error: 'boom' })),
  } as unknown as Manifest;
}

const series = (text: string) => new Map([...parseExposition(text).entries()].map(([k, v]) => [k, v.value]));

describe('metrics', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(async () => {
    await dir?.cleanup();
  });

  it('status is a labelled state, not 1/0.5/0', async () => {
    const text = await backupMetrics(manifest('s1', 'PartiallyFailed', ['redis'])).metrics();
    expect(text).toContain('gushen_dr_backup_status{schedule="s1",status="PartiallyFailed"} 1');
    expect(text).toContain('gushen_dr_backup_status{schedule="s1",status="Completed"} 0');
    expect(text).toContain('gushen_dr_backup_status{schedule="s1",status="Failed"} 0');
    expect(text).not.toMatch(/gushen_dr_backup_status\{schedule="s1"\} /);
  });

  it('attempts and failures per command and source, last success per source, duration histogram, build info', async () => {
    const first = await backupMetrics(manifest('s2', 'Completed', [], 1)).metrics();
    const second = await backupMetrics(manifest('s2', 'PartiallyFailed', ['redis'], 2)).metrics();
    const s = series(second);
    expect(s.get('gushen_dr_attempts_total{command="backup",schedule="s2",source="postgres"}')).toBe(2);
    expect(s.get('gushen_dr_failures_total{command="backup",schedule="s2",source="redis"}')).toBe(1);
    expect(s.get('gushen_dr_failures_total{command="backup",schedule="s2",source="postgres"}')).toBe(0);
    // Redis failed the second time: its last success is still the first run's.
    expect(s.get('gushen_dr_last_success_timestamp_seconds{command="backup",schedule="s2",source="redis"}')).toBe(series(first).get('gushen_dr_last_success_timestamp_seconds{command="backup",schedule="s2",source="redis"}'));
    expect(s.get('gushen_dr_last_success_timestamp_seconds{command="backup",schedule="s2",source="postgres"}')).toBe(Date.parse(manifest('s2', 'Completed', [], 2).finishedAt) / 1000);
    expect(second).toContain('gushen_dr_run_duration_seconds_bucket{le="120",command="backup",schedule="s2"} 1');
    expect(second).toMatch(/gushen_dr_build_info\{version="[^"]+",host="[^"]+"\} 1/);
    expect(second).toMatch(/# TYPE gushen_dr_attempts_total counter/);
    // A source that never succeeded reports 0, so the alert on its age fires.
    const never = series(await backupMetrics(manifest('s3', 'PartiallyFailed', ['redis'])).metrics());
    expect(never.get('gushen_dr_last_success_timestamp_seconds{command="backup",schedule="s3",source="redis"}')).toBe(0);
  });

  it('a one-shot run continues the counters of its textfile and keeps a failed source\'s last success', async () => {
    const textfile = join(dir.path, 'gushen-dr.prom');
    await writeFile(
      textfile,
      [
        'gushen_dr_attempts_total{command="backup",schedule="s4",source="postgres"} 41',
        'gushen_dr_failures_total{command="backup",schedule="s4",source="redis"} 3',
        'gushen_dr_last_success_timestamp_seconds{command="backup",schedule="s4",source="redis"} 1700000000',
      ].join('\n'),
    );
    await publishMetrics(backupMetrics(manifest('s4', 'PartiallyFailed', ['redis'])), { textfile, job: 'gushen-dr' }, silentLogger);
    const s = series(await readFile(textfile, 'utf8'));
    expect(s.get('gushen_dr_attempts_total{command="backup",schedule="s4",source="postgres"}')).toBe(42);
    expect(s.get('gushen_dr_failures_total{command="backup",schedule="s4",source="redis"}')).toBe(4);
    expect(s.get('gushen_dr_last_success_timestamp_seconds{command="backup",schedule="s4",source="redis"}')).toBe(1700000000);
  });

  it('and of its Pushgateway group (only that group: another schedule\'s series are not added)', async () => {
    const posts: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c)).on('end', () => {
        if (req.method === 'GET' && req.url === '/metrics') {
          res.end(
            [
              'gushen_dr_attempts_total{command="backup",instance="",job="gushen-dr",schedule="s5",source="postgres"} 9',
              'gushen_dr_attempts_total{command="backup",instance="",job="gushen-dr",schedule="other",source="postgres"} 100',
              'push_time_seconds{instance="",job="gushen-dr",schedule="s5"} 1.7e+09',
            ].join('\n'),
          );
          return;
        }
        posts.push(body);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      await publishMetrics(backupMetrics(manifest('s5', 'Completed', [])), { pushgateway: url, job: 'gushen-dr' }, silentLogger, { schedule: 's5' });
      expect(posts).toHaveLength(1);
      expect(series(posts[0]).get('gushen_dr_attempts_total{command="backup",schedule="s5",source="postgres"}')).toBe(10);
    } finally {
      server.close();
    }
  });
});
