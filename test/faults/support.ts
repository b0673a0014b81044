/**
 * Shared pieces of the fault suite (test/faults/*.test.ts): the fault/backup/mismatch counters every file
 * reports, and the data checks that decide whether a backup that claims to be Completed really holds the
 * platform's data.
 */
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listBackups, type CatalogEntry } from '../../src/repository/catalog.js';
import { verifyBackup } from '../../src/engine/verify.js';
import type { Config } from '../../src/config/schema.js';
import type { Identity } from '../../src/crypto/index.js';
import type { Manifest } from '../../src/repository/manifest.js';
import type { KubeFacts } from '../../src/sources/kube/facts.js';
import type { PostgresFacts } from '../../src/sources/postgres/facts.js';
import type { RedisFacts } from '../../src/sources/redis/facts.js';
import type { ObjectStore } from '../../src/store/types.js';
import { silentLogger } from '../../src/util/log.js';

export const EXPECTED_ARTIFACTS = ['kube/resources.tar', 'postgres/globals.sql', 'postgres/gushen.dump', 'redis/dump.rdb'];

export interface Counts {
  faults: number;
  backups: number;
  mismatches: number;
}

/**
 * Per-file counts, printed in the file's afterAll. Every file also leaves its counts in a directory shared by
 * the files of one vitest run (keyed by the parent pid), so the last file to finish prints the suite's total.
 */
export class FaultCounter {
  readonly counts: Counts = { faults: 0, backups: 0, mismatches: 0 };
  readonly problems: string[] = [];
  constructor(private readonly file: string) {}

  fault(n = 1): void {
    this.counts.faults += n;
  }
  backup(n = 1): void {
    this.counts.backups += n;
  }
  mismatch(what: string): void {
    this.counts.mismatches += 1;
    this.problems.push(what);
  }

  async report(): Promise<void> {
    const name = basename(this.file);
    const c = this.counts;
    console.log(`[fault suite] ${name}: faults injected: ${c.faults}, backups attempted: ${c.backups}, data mismatches: ${c.mismatches}`);
    const dir = join(tmpdir(), `gushen-dr-fault-counts-${process.ppid}`);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `${name}.json`), JSON.stringify(c));
    const here = fileURLToPath(new URL('.', import.meta.url));
    const suite = (await readdir(here)).filter((f) => f.endsWith('.test.ts'));
    const done = (await readdir(dir)).filter((f) => f.endsWith('.test.ts.json'));
    if (suite.every((f) => done.includes(`${f}.json`))) {
      const total: Counts = { faults: 0, backups: 0, mismatches: 0 };
      for (const f of done) {
        const x = JSON.parse(await readFile(join(dir, f), 'utf8')) as Counts;
        total.faults += x.faults;
        total.backups += x.backups;
        total.mismatches += x.mismatches;
      }
      console.log(
        `[fault suite] TOTAL over ${done.length} files: faults injected: ${total.faults}, backups attempted: ${total.backups}, data mismatches: ${total.mismatches}`,
      );
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/** What a Completed backup of the (static) test platform must contain, taken from one clean backup. */
export interface Reference {
  tables: PostgresFacts['tables'];
  kubeCounts: KubeFacts['counts'];
  kubeObjects: number;
  /** Redis keys without a TTL never change; keys with one may expire between backups. */
  redisPersistentKeys: number;
  redisMaxKeys: number;
}

export function referenceOf(m: Manifest, redis: { persistentKeys: number; maxKeys: number }): Reference {
  const pg = m.artifacts.find((a) => a.name === 'postgres/gushen.dump')!.facts as PostgresFacts;
  const kube = m.artifacts.find((a) => a.name === 'kube/resources.tar')!.facts as KubeFacts;
  return {
    tables: pg.tables,
    kubeCounts: kube.counts,
    kubeObjects: kube.objects,
    redisPersistentKeys: redis.persistentKeys,
    redisMaxKeys: redis.maxKeys,
  };
}

/** Keys per Redis server: how many have no TTL (never expire) and how many there are now. */
export async function redisKeyBounds(client: import('ioredis').Redis): Promise<{ persistentKeys: number; maxKeys: number }> {
  let persistentKeys = 0;
  // INFO keyspace counts keys that have expired but were not evicted yet, as an RDB snapshot may hold them.
  const keyspace = [...(await client.info('keyspace')).matchAll(/^db(\d+):keys=(\d+)/gm)];
  const maxKeys = keyspace.reduce((s, m) => s + Number(m[2]), 0);
  for (const db of keyspace.map((m) => Number(m[1]))) {
    await client.select(db);
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) {
        const pipe = client.pipeline();
        for (const k of keys) pipe.pttl(k);
        for (const [, ttl] of (await pipe.exec()) ?? []) if (ttl === -1) persistentKeys++;
      }
    } while (cursor !== '0');
  }
  await client.select(0);
  return { persistentKeys, maxKeys };
}

/**
 * Problems with a backup that says Completed: every expected artifact present and verified after write, the
 * snapshot's row counts equal to the source's, every Kubernetes object, the Redis keys within bounds.
 */
export function completedProblems(m: Manifest, ref: Reference, expected = EXPECTED_ARTIFACTS): string[] {
  const out: string[] = [];
  if (m.status !== 'Completed') return out;
  const names = m.artifacts.map((a) => a.name).sort();
  if (JSON.stringify(names) !== JSON.stringify([...expected].sort())) out.push(`${m.id}: artifacts ${names.join(', ')}`);
  if (m.failures.length > 0) out.push(`${m.id}: Completed with failures ${JSON.stringify(m.failures)}`);
  for (const a of m.artifacts) {
    if (!a.verifiedAt) out.push(`${m.id}: ${a.name} was not verified after write`);
    if (a.facts.type === 'postgres' && JSON.stringify(a.facts.tables) !== JSON.stringify(ref.tables)) {
      out.push(`${m.id}: ${a.name} row counts ${JSON.stringify(a.facts.tables)} differ from the source's`);
    }
    if (a.facts.type === 'kube' && (a.facts.objects !== ref.kubeObjects || JSON.stringify(a.facts.counts) !== JSON.stringify(ref.kubeCounts))) {
      out.push(`${m.id}: ${a.name} has ${a.facts.objects} objects, the namespace has ${ref.kubeObjects}`);
    }
    if (a.facts.type === 'redis') {
      const keys = (a.facts as RedisFacts).databases.reduce((s, d) => s + d.keys, 0);
      if (keys < ref.redisPersistentKeys || keys > ref.redisMaxKeys) {
        out.push(`${m.id}: ${a.name} has ${keys} keys, expected ${ref.redisPersistentKeys}..${ref.redisMaxKeys}`);
      }
    }
  }
  return out;
}

/**
 * Checks every Completed backup in the store: stored size and SHA-256 of each artifact, the data checks above,
 * and a deep verify (decrypt, source checks) of the ids in `deep`. Returns the catalog and the problems found.
 */
export async function auditStore(opts: {
  store: ObjectStore;
  config: Config;
  ref: Reference;
  identities: Identity[];
  deep?: (entry: CatalogEntry) => boolean;
  expected?: string[];
}): Promise<{ entries: CatalogEntry[]; problems: string[] }> {
  const entries = await listBackups(opts.store);
  const problems: string[] = [];
  for (const e of entries) {
    if (e.status === 'Unreadable') problems.push(`${e.id}: unreadable manifest: ${e.problem}`);
    if (e.status !== 'Completed' || !e.manifest) continue;
    problems.push(...completedProblems(e.manifest, opts.ref, opts.expected));
    const deep = opts.deep?.(e) ? { identities: opts.identities } : undefined;
    const results = await verifyBackup({ store: opts.store, manifest: e.manifest, config: opts.config, log: silentLogger, deep });
    for (const r of results) if (!r.ok) problems.push(`${e.id}: verify${deep ? ' --deep' : ''} ${r.artifact}: ${r.error}`);
  }
  return { entries, problems };
}

/** The seeded PRNG, so a failing run can be repeated with GUSHEN_DR_FAULT_SEED. */
export { seededRandom } from '../../src/util/seeded-random.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Backup ids have one-second resolution: wait until the next second starts. */
export async function nextSecond(): Promise<void> {
  await sleep(1000 - (Date.now() % 1000) + 20);
}

/** A logger that keeps every line (JSON objects) and can wait for a message: what a test reads of a run. */
export interface CapturedLogger {
  log: import('../../src/util/log.js').Logger;
  lines: Array<Record<string, unknown>>;
  /** Resolves at the first line (already logged or later) whose msg matches. */
  waitFor(msg: RegExp): Promise<Record<string, unknown>>;
  /** Every line, serialized: what would have reached stderr. */
  text(): string;
}

export async function captureLogger(level: 'info' | 'debug' = 'info'): Promise<CapturedLogger> {
  const { pino } = await import('pino');
  const { Writable } = await import('node:stream');
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (l: Record<string, unknown>) => void }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      const text = chunk.toString();
      raw.push(text);
      for (const l of text.split('\n').filter(Boolean)) {
        const o = JSON.parse(l) as Record<string, unknown>;
        lines.push(o);
        for (const w of [...waiters]) {
          if (w.re.test(String(o.msg))) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(o);
          }
        }
      }
      cb();
    },
  });
  return {
    log: pino({ level }, sink),
    lines,
    text: () => raw.join(''),
    waitFor: (re) => {
      const seen = lines.find((l) => re.test(String(l.msg)));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ re, resolve }));
    },
  };
}
