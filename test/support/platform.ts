import { createServer, type Server } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { generateX25519Identity, formatIdentityFile } from '../../src/crypto/index.js';
import { type Config } from '../../src/config/schema.js';
import { configSchema } from '../../src/sources/registry.js';
import { startPostgres, type TestPostgres } from './postgres.js';
import { startRedis, type TestRedis } from './redis.js';
import { startS3, useS3rverCredentials, type TestS3 } from './s3.js';
import { startKubeEmulator, type KubeEmulator } from './kube-emulator/index.js';
import { createPlatformDataset } from './pg-dataset.js';
import { fillRedis } from './redis-dataset.js';
import { tempDir } from './tmp.js';
import { waitFor } from './ports.js';

export const PG_PASSWORD = 'pg-Secret-0xDEADBEEF';
export const REDIS_PASSWORD = 'redis-Secret-0xFEEDFACE';

export interface Platform {
  dir: string;
  pg: TestPostgres;
  redis: TestRedis;
  kube: KubeEmulator;
  s3?: TestS3;
  kubeconfig: string;
  identityFile: string;
  recipient: string;
  /** Health answers per service name; tests change them (e.g. to 503). */
  health: Map<string, { status: number; body: string }>;
  /** A complete config for this platform, with overrides merged at the top level. */
  config(over?: Record<string, unknown>, store?: 'file' | 's3'): Config;
  /** Writes the config as YAML for CLI runs; returns its path. */
  writeConfig(name: string, over?: Record<string, unknown>, store?: 'file' | 's3'): Promise<string>;
  stop(): Promise<void>;
}

/**
 * The GuShen platform in miniature for end-to-end tests: PostgreSQL with a platform-like dataset (password
 * auth), Redis with AOF and a password, the Kubernetes API emulator with the ai-qtrd fixture (exec into
 * redis-0 mapped to local commands, service proxies mapped to a local health server), optionally s3rver.
 */
export async function startPlatform(opts: { rows?: number; redisKeys?: number; s3?: boolean; rbac?: boolean } = {}): Promise<Platform> {
  const tmp = await tempDir('gushen-dr-platform-');
  const health = new Map<string, { status: number; body: string }>();
  const healthServer: Server = createServer((req, res) => {
    const svc = String(req.headers['x-gushen-service'] ?? '');
    const h = health.get(svc) ?? { status: 200, body: '{"status":"ok","timestamp":"2026-11-24T00:00:00Z"}' };
    res.writeHead(h.status, { 'content-type': 'application/json' }).end(h.body);
  });
  await new Promise<void>((r) => healthServer.listen(0, '127.0.0.1', () => r()));
  const healthPort = (healthServer.address() as { port: number }).port;
  // Every service proxy lands on one local server; the service name travels in the path prefix.
  const proxies = new Map<string, Server>();
  const proxyFor = async (service: string): Promise<string> => {
    let s = proxies.get(service);
    if (!s) {
      s = createServer((req, res) => {
        const r = createServerRequest(healthPort, service, req.url ?? '/');
        r.then(({ status, body }) => res.writeHead(status, { 'content-type': 'application/json' }).end(body)).catch(() => res.writeHead(502).end());
      });
      await new Promise<void>((r) => s!.listen(0, '127.0.0.1', () => r()));
      proxies.set(service, s);
    }
    return `http://127.0.0.1:${(s.address() as { port: number }).port}`;
  };
  const proxyUrls = new Map<string, string>();
  for (const svc of ['ai-qtrd-web', 'ai-qtrd-api']) proxyUrls.set(svc, await proxyFor(svc));

  const [pg, redis, s3] = await Promise.all([
    startPostgres({ password: PG_PASSWORD }),
    startRedis({ password: REDIS_PASSWORD }),
    opts.s3 ? startS3() : Promise.resolve(undefined),
  ]);
  if (s3) useS3rverCredentials();
  await pg.query('postgres', 'create database gushen');
  await createPlatformDataset(pg.urlFor('gushen'), { rows: opts.rows ?? 20_000 });
  await fillRedis(redis.client(), { keys: opts.redisKeys ?? 3000, large: false });

  const kube = await startKubeEmulator({
    fixture: 'gushen',
    // With RBAC: HTTPS and tokens; the kubeconfig below is the admin's, tests write their own per ServiceAccount.
    rbac: opts.rbac,
    execHandler: (req) => {
      if (req.pod !== 'redis-0' || req.container !== 'redis' || req.command[0] !== 'cat') return undefined;
      return { command: 'cat', args: req.command.slice(1) };
    },
    serviceProxy: (_ns, service) => proxyUrls.get(service),
  });
  const kubeconfig = join(tmp.path, 'kubeconfig');
  await kube.writeKubeconfig(kubeconfig);
  await waitFor('pod redis-0', async () => (kube.get('v1', 'Pod', 'ai-qtrd', 'redis-0') ? true : undefined));

  const { identity, recipient } = generateX25519Identity();
  const identityFile = join(tmp.path, 'dr.key');
  await writeFile(identityFile, formatIdentityFile(identity, recipient, new Date()), { mode: 0o600 });

  const raw = (over: Record<string, unknown> = {}, store: 'file' | 's3' = 'file') => ({
    store: store === 's3' && s3 ? s3.storeConfig('gushen') : { url: `file://${join(tmp.path, 'store')}` },
    encryption: { recipients: [recipient], identityFile },
    sources: {
      kube: { namespace: 'ai-qtrd', kubeconfig },
      postgres: { url: `postgres://postgres:${PG_PASSWORD}@127.0.0.1:${pg.port}/`, databases: ['gushen'], globals: true },
      redis: { url: `redis://:${REDIS_PASSWORD}@127.0.0.1:${redis.port}`, method: 'exec', namespace: 'ai-qtrd', pod: 'redis-0', container: 'redis' },
    },
    backup: { lockLeaseSeconds: 120 },
    drill: { readyTimeoutSeconds: 30 },
    ...over,
  });
  return {
    dir: tmp.path,
    pg,
    redis,
    kube,
    s3,
    kubeconfig,
    identityFile,
    recipient,
    health,
    config: (over, store) => configSchema.parse(raw(over, store)),
    writeConfig: async (name, over, store) => {
      const file = join(tmp.path, name);
      await writeFile(file, stringify(raw(over, store)));
      return file;
    },
    stop: async () => {
      await Promise.all([kube.stop(), pg.stop(), redis.stop(), s3?.stop()]);
      for (const s of [healthServer, ...proxies.values()]) s.close();
      await tmp.cleanup();
    },
  };
}

async function createServerRequest(port: number, service: string, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { 'x-gushen-service': service } });
  return { status: res.status, body: await res.text() };
}
