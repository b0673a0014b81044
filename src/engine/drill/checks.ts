import type { Config } from '../../config/schema.js';
import type { PostgresFacts, RedisFacts } from '../../repository/manifest.js';
import { KubeApiError, type KubeClient } from '../../sources/shared/kube-client.js';
import { errorMessage } from '../../util/errors.js';
import { countRows } from '../../sources/postgres/restore.js';
import type { RedisRestoreReport } from '../../sources/redis/restore.js';
import { pgClientUrl } from '../../sources/postgres/tools.js';
import type { CheckResult } from './report.js';

type HealthCheck = Config['drill']['healthChecks'][number];

/** GET through the API server's services proxy; the status and body must match what the config expects. */
export async function healthCheck(client: KubeClient, namespace: string, hc: HealthCheck, signal?: AbortSignal): Promise<CheckResult> {
  const name = `${hc.service}:${hc.port}${hc.path}`;
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(`${hc.service}:${hc.port}`)}/proxy${hc.path}`;
  let status = 200;
  let body: string;
  try {
    const parsed = await client.get(path, { signal, timeoutMs: 30_000 });
    body = typeof parsed === 'string' ? parsed : JSON.stringify(parsed);
  } catch (err) {
    if (err instanceof KubeApiError) {
      status = err.code;
      body = err.apiMessage;
    } else {
      return { kind: 'health', name, ok: false, expected: hc.expectStatus, detail: `service ${hc.service}: ${errorMessage(err)}` };
    }
  }
  if (status !== hc.expectStatus) {
    return { kind: 'health', name, ok: false, expected: hc.expectStatus, actual: status, detail: `service ${hc.service} answered ${status}: ${body.slice(0, 200)}` };
  }
  if (hc.expectBody && !body.includes(hc.expectBody)) {
    return { kind: 'health', name, ok: false, expected: hc.expectBody, actual: body.slice(0, 200), detail: `service ${hc.service}: body lacks ${hc.expectBody}` };
  }
  return { kind: 'health', name, ok: true, expected: hc.expectStatus, actual: status };
}

/** Every table's exact row count in the restored database against the manifest's. */
export async function postgresChecks(serverUrl: string, database: string, facts: PostgresFacts): Promise<CheckResult[]> {
  const actual = new Map((await countRows(pgClientUrl(serverUrl, database))).map((t) => [`${t.schema}.${t.name}`, t.rows]));
  const out: CheckResult[] = facts.tables.map((t) => {
    const key = `${t.schema}.${t.name}`;
    const rows = actual.get(key);
    actual.delete(key);
    return {
      kind: 'postgres',
      name: `${database}: ${key}`,
      ok: rows === t.rows,
      expected: t.rows,
      actual: rows ?? 'missing',
    };
  });
  for (const [key, rows] of actual) out.push({ kind: 'postgres', name: `${database}: ${key}`, ok: false, expected: 'absent', actual: rows, detail: 'table not in the backup' });
  const tables = facts.tables.length;
  const found = out.filter((c) => c.actual !== 'missing').length;
  out.unshift({ kind: 'postgres', name: `${database}: tables`, ok: found === tables && out.every((c) => c.ok), expected: tables, actual: found });
  return out;
}

/** Per-database key counts after the Redis restore; keys whose TTL ran out since the backup are allowed for. */
export function redisChecks(report: RedisRestoreReport, facts: RedisFacts): CheckResult[] {
  const expectedTotal = facts.databases.reduce((s, d) => s + d.keys, 0) - report.databases.reduce((s, d) => s + d.expiredSinceBackup, 0);
  const actualTotal = report.databases.reduce((s, d) => s + d.actual, 0);
  const total: CheckResult = { kind: 'redis', name: 'keys in all databases', ok: actualTotal === expectedTotal, expected: expectedTotal, actual: actualTotal };
  return [total, ...facts.databases.map((d): CheckResult => {
    const r = report.databases.find((x) => x.db === d.db);
    const expected = d.keys - (r?.expiredSinceBackup ?? 0);
    return {
      kind: 'redis',
      name: `db${d.db} keys`,
      ok: r !== undefined && r.actual === expected,
      expected,
      actual: r?.actual ?? 'missing',
      detail: r?.expiredSinceBackup ? `${d.keys} in the backup, ${r.expiredSinceBackup} expired since (TTL)` : undefined,
    };
  })];
}
