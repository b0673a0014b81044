/**
 * A GuShen-like dataset at a chosen size, for benchmarks and manual testing:
 *
 *   npx tsx bench/dataset.ts --pg-url postgres://postgres@127.0.0.1:5433/gushen --pg-mib 1024 \
 *                            --redis-url redis://127.0.0.1:6380 --redis-keys 2000000 [--kube-fixture ns.yaml]
 *
 * - PostgreSQL (--pg-url names the database; it is created when missing, and must be empty): the platform's
 *   schemas — auth.users, strategy.strategies and strategy.backtests, trading.orders/fills, market data in a
 *   partitioned table, audit events — with jsonb, bytea, arrays, numeric, timestamps, views, functions, triggers
 *   and indexes, sized to about --pg-mib MiB.
 * - Redis (--redis-url): about --redis-keys keys of every type with the platform's cache TTLs — K-lines 1 h,
 *   backtest results 24 h, sessions 3 h, quotes 1 min — plus watchlists, leaderboards, counters, streams with
 *   consumer groups, a job queue in db 1 and binary keys in db 2.
 * - Kubernetes (--kube-fixture FILE): the ai-qtrd namespace fixture (Deployments, the Redis StatefulSet,
 *   Services, ConfigMap, Secrets with fake values, IngressRoute, Certificate, CRDs, RBAC) as multi-document YAML,
 *   ready for `kubectl apply -f` or the API emulator.
 * Any of the three can be left out. Prints what it made as JSON. PostgreSQL and Redis come from src/demo/dataset.ts,
 * the one generator that the tests, the benchmarks and `npm run quickstart` share; this file adds the command line
 * and the Kubernetes fixture (which lives with the API emulator in test/support).
 */
import { writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { generateDataset as generateStores, type DatasetOptions as StoreOptions, type DatasetResult as StoreResult } from '../src/demo/dataset.js';
import { gushenObjects } from '../test/support/kube-emulator/fixtures/gushen.js';

export interface DatasetOptions extends StoreOptions {
  kubeFixture?: string;
}

export interface DatasetResult extends StoreResult {
  kube?: { file: string; objects: number };
}

export async function generateDataset(opts: DatasetOptions): Promise<DatasetResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const out: DatasetResult = await generateStores({ ...opts, log });
  if (opts.kubeFixture) {
    const objects = gushenObjects();
    await writeFile(opts.kubeFixture, objects.map((o) => stringify(o)).join('---\n'));
    out.kube = { file: opts.kubeFixture, objects: objects.length };
    log(`kube: ${objects.length} objects written to ${opts.kubeFixture}`);
  }
  return out;
}

function parseArgs(argv: string[]): DatasetOptions {
  const opts: DatasetOptions = {};
  const num = (flag: string, v: string | undefined) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag}: expected a positive number, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    switch (a) {
      case '--pg-url':
        opts.pgUrl = v;
        i++;
        break;
      case '--pg-mib':
        opts.pgMiB = num(a, v);
        i++;
        break;
      case '--redis-url':
        opts.redisUrl = v;
        i++;
        break;
      case '--redis-keys':
        opts.redisKeys = num(a, v);
        i++;
        break;
      case '--kube-fixture':
        opts.kubeFixture = v;
        i++;
        break;
      default:
        throw new Error(`unknown argument ${a} (expected --pg-url, --pg-mib, --redis-url, --redis-keys, --kube-fixture)`);
    }
  }
  if (!opts.pgUrl && !opts.redisUrl && !opts.kubeFixture) throw new Error('nothing to do: pass --pg-url, --redis-url and/or --kube-fixture');
  return opts;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  let opts: DatasetOptions;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench/dataset.ts: ${(err as Error).message}\n`);
    process.exit(2);
  }
  generateDataset(opts).then(
    (r) => process.stdout.write(`${JSON.stringify({ ...r, postgres: r.postgres && { ...r.postgres, tables: r.postgres.tables.length } }, null, 2)}\n`),
    (err: unknown) => {
      process.stderr.write(`bench/dataset.ts: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
