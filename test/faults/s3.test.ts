/**
 * S3 faults: gushen-dr → TCP fault proxy → HTTP fault proxy → s3rver. Error answers and resets for a few
 * requests must be retried into a Completed backup; a dead or stalled S3 must fail the backup within its
 * timeout with nothing under the artifact's key; s3rver dying mid-upload must fail cleanly (multipart upload
 * aborted) and leave earlier backups intact, and the next run must complete.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/engine/backup.js';
import { listBackups } from '../../src/repository/catalog.js';
import { loadIdentities } from '../../src/config/keys.js';
import type { Config } from '../../src/config/schema.js';
import type { Identity } from '../../src/crypto/index.js';
import type { Manifest } from '../../src/repository/manifest.js';
import { openStore } from '../../src/store/open.js';
import { silentLogger } from '../../src/util/log.js';
import { errorMessage } from '../../src/util/errors.js';
import { startPlatform, type Platform } from '../support/platform.js';
import { startFaultProxy, startHttpFaultProxy, type FaultProxy, type HttpFaultProxy } from '../support/fault-proxy.js';
import { FaultCounter, auditStore, captureLogger, completedProblems, nextSecond, redisKeyBounds, referenceOf, type Reference } from './support.js';

const counter = new FaultCounter(import.meta.filename);

describe('S3 faults', () => {
  let p: Platform;
  let http: HttpFaultProxy;
  let tcp: FaultProxy;
  let config: Config;
  let identities: Identity[];
  let ref: Reference;
  let first: Manifest;
  const store = () => openStore(config.store);
  const dumpKey = (id: string) => `backups/${id}/postgres/gushen.dump.zst.age`;

  const backup = async (log = silentLogger) => {
    await nextSecond();
    counter.backup();
    return runBackup({ config, store: store(), schedule: 'nightly', log });
  };
  const audit = async () => {
    const r = await auditStore({ store: store(), config, ref, identities, deep: (e) => e.id === first?.id });
    for (const pr of r.problems) counter.mismatch(pr);
    expect(r.problems).toEqual([]);
    return r.entries;
  };

  beforeAll(async () => {
    // ~7 MiB stored for the database: a multipart upload of two 5 MiB parts.
    p = await startPlatform({ rows: 90_000, redisKeys: 3000, s3: true });
    http = await startHttpFaultProxy(p.s3!.endpoint);
    tcp = await startFaultProxy({ port: http.port });
    const base = p.config({}, 's3');
    config = p.config(
      { store: { ...base.store, s3: { ...base.store.s3, endpoint: `http://127.0.0.1:${tcp.port}`, maxAttempts: 4, timeoutSeconds: 2 } } },
      's3',
    );
    identities = await loadIdentities(config);
    const bounds = await redisKeyBounds(p.redis.client());
    counter.backup();
    first = await runBackup({ config, store: store(), schedule: 'nightly', log: silentLogger });
    expect(first.failures).toEqual([]);
    expect(first.status).toBe('Completed');
    ref = referenceOf(first, bounds);
    // the database artifact really went up as a multipart upload
    expect(http.requests.filter((r) => r.op === 'UploadPart' && r.key.endsWith(dumpKey(first.id))).length).toBeGreaterThanOrEqual(2);
  });
  afterAll(async () => {
    await tcp?.close();
    await http?.close();
    await p?.stop();
    await counter.report();
  });

  it('500 and 503 answers for a few requests of every kind: retried, the backup completes with intact data', async () => {
    const before = http.faults;
    const rules = [
      http.inject({ match: 'CreateMultipartUpload', fault: { status: 503 }, times: 1 }),
      http.inject({ match: 'UploadPart', fault: { status: 500 }, times: 2 }),
      http.inject({ match: 'UploadPart', fault: { status: 503 }, times: 1 }),
      http.inject({ match: 'CompleteMultipartUpload', fault: { status: 500 }, times: 1 }),
      http.inject({ match: 'PutObject', fault: { status: 503 }, times: 2 }),
      http.inject({ match: 'GetObject', fault: { status: 500 }, times: 1 }),
      http.inject({ match: 'ListObjectsV2', fault: { status: 503 }, times: 1 }),
    ];
    const m = await backup();
    counter.fault(http.faults - before);
    expect(m.failures).toEqual([]);
    expect(m.status).toBe('Completed');
    expect(completedProblems(m, ref)).toEqual([]);
    // every injected fault was hit (and retried)
    await Promise.all(rules);
    expect(http.faults - before).toBe(9);
    const injected = http.requests.filter((r) => r.injected && typeof r.outcome === 'number');
    expect(new Set(injected.map((r) => r.op))).toEqual(
      new Set(['CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload', 'PutObject', 'GetObject', 'ListObjectsV2']),
    );
    await audit();
  });

  it('connection resets (on arrival, and mid-body at the TCP level) under latency: retried, the backup completes', async () => {
    const before = http.faults + tcp.faults;
    tcp.latencyMs = 2;
    const rules = [
      http.inject({ match: 'UploadPart', fault: 'reset', times: 1 }),
      http.inject({ match: 'PutObject', fault: 'reset', times: 1 }),
      http.inject({ match: 'GetObject', fault: 'reset', times: 1 }),
    ];
    // And one reset of every open connection once 3 MB more have gone up (in the middle of a part).
    const midBody = tcp.resetAfter(3_000_000, 'up');
    try {
      const m = await backup();
      await Promise.all([...rules, midBody]);
      counter.fault(http.faults + tcp.faults - before);
      expect(m.failures).toEqual([]);
      expect(m.status).toBe('Completed');
      expect(completedProblems(m, ref)).toEqual([]);
      expect(tcp.faults).toBeGreaterThan(0);
    } finally {
      tcp.heal();
    }
    await audit();
  });

  it('S3 dead from the start (accepts, never answers): the backup fails within the timeout and writes nothing; healed, the next run completes', async () => {
    const before = await store().list('');
    tcp.mode = 'blackhole';
    let err: unknown;
    try {
      await backup();
    } catch (e) {
      err = e;
    } finally {
      counter.fault(tcp.faults);
      tcp.heal();
    }
    expect(errorMessage(err)).toMatch(/timeout|timed out|ETIMEDOUT|socket hang up|ECONNRESET/i);
    expect(await store().list('')).toEqual(before);
    const next = await backup();
    expect(next.status).toBe('Completed');
    await audit();
  });

  it('S3 stops reading in the middle of an upload: the artifact fails after the timeout, nothing under its key; the next run completes', async () => {
    const before = http.faults;
    // Every attempt (maxAttempts 4) at the dump's second part meets a server that stops reading its body and never
    // answers: each times out after store.s3.timeoutSeconds, then the upload is aborted.
    const isPart2 = (r: { op: string; key: string; url: string }) =>
      r.op === 'UploadPart' && r.key.includes('postgres/gushen.dump') && new URL(r.url, 'http://x').searchParams.get('partNumber') === '2';
    const stalls = http.inject({ match: isPart2, fault: 'stall', times: 4 });
    const m = await backup();
    await stalls;
    counter.fault(http.faults - before);
    expect(http.faults - before).toBe(4);
    expect(m.status).not.toBe('Completed');
    expect(m.failures).toContainEqual(expect.objectContaining({ source: 'postgres', artifact: 'postgres/gushen.dump', error: expect.stringContaining('postgres/gushen.dump') }));
    // the upload was aborted (s3rver does not implement AbortMultipartUpload: 405), nothing is under the key
    expect(http.requests.some((r) => r.op === 'AbortMultipartUpload' && r.key.includes(`${m.id}/postgres/gushen.dump`))).toBe(true);
    expect(await store().head(dumpKey(m.id))).toBeUndefined();
    expect(m.artifacts.some((a) => a.name === 'postgres/gushen.dump')).toBe(false);
    // the artifacts that were not stalled are there and verified
    expect(m.artifacts.filter((a) => a.verifiedAt).map((a) => a.name).sort()).toEqual(['kube/resources.tar', 'postgres/globals.sql', 'redis/dump.rdb']);
    const next = await backup();
    expect(next.status).toBe('Completed');
    await audit();
  });

  it('s3rver dies mid-upload: the backup fails cleanly, the multipart upload abort is attempted, earlier backups stay intact, the next run completes', async () => {
    const cap = await captureLogger();
    const partSeen = http.requests.length;
    // Kill the server right after the first part of the database dump was stored.
    const killed = http
      .waitFor((r) => r.op === 'UploadPart' && r.key.includes('postgres/gushen.dump') && r.outcome === 200 && http.requests.indexOf(r) >= partSeen)
      .then(() => p.s3!.kill());
    let err: unknown;
    let m: Manifest | undefined;
    try {
      m = await backup(cap.log);
    } catch (e) {
      err = e;
    }
    await killed;
    counter.fault();
    // Nothing can be written once the server is gone, not even the manifest: the run fails (CLI exit 1).
    expect(m).toBeUndefined();
    expect(errorMessage(err)).toMatch(/ECONNREFUSED|ECONNRESET|socket hang up|connect|timeout/i);
    const id = (await cap.waitFor(/backup started/)).backup as string;
    // The uploader sent AbortMultipartUpload for the failed upload (the server was gone, so it could not succeed).
    const abort = http.requests.filter((r) => r.op === 'AbortMultipartUpload' && r.key.includes(`${id}/postgres/gushen.dump`));
    expect(abort.length).toBeGreaterThan(0);
    expect(cap.lines.some((l) => l.msg === 'postgres database backup failed')).toBe(true);

    await p.s3!.start();
    // nothing under the artifact's key; the interrupted backup is Incomplete (no manifest), never Completed
    expect(await store().head(dumpKey(id))).toBeUndefined();
    const entries = await listBackups(store());
    expect(entries.find((e) => e.id === id)?.status ?? 'Incomplete').toBe('Incomplete');
    // earlier backups untouched (deep verify of the first one)
    await audit();
    const next = await backup();
    expect(next.failures).toEqual([]);
    expect(next.status).toBe('Completed');
    await audit();
  });
});
