/**
 * Copies every key of a (throwaway) source Redis into a target with DUMP / RESTORE … REPLACE, keeping
 * expire times: SCAN a page, pipeline DUMP + PEXPIRETIME (or PTTL) for it, pipeline the RESTOREs to the
 * target while the next page is being read. Memory is bounded by two pages of DUMP payloads.
 * Key names never appear in messages (they can carry session tokens).
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../util/log.js';
import { OperationError, errorMessage } from '../util/errors.js';
import { connectRedis, type RedisEndpoint } from '../util/redis-url.js';

export interface CopyOptions {
  /** Keys per SCAN page / pipeline. */
  batch?: number;
  /**
   * Absolute expire times (PEXPIRETIME on the source, RESTORE … ABSTTL on the target: source ≥ 7.0,
   * target ≥ 5.0). Otherwise PTTL and a relative TTL, which drifts by the pipeline's latency.
   */
  absoluteTtl: boolean;
  log: Logger;
  signal?: AbortSignal;
}

export interface CopyResult {
  keys: number;
  perDb: Record<number, number>;
  /** Keys that disappeared (expired) between SCAN and DUMP. */
  vanished: number;
}

interface Item {
  key: Buffer;
  payload: Buffer;
  ttl: number;
}

export async function copyKeys(
  sourceClient: (db: number) => Redis,
  target: RedisEndpoint,
  dbs: number[],
  opts: CopyOptions,
): Promise<CopyResult> {
  const batch = opts.batch ?? 1000;
  const result: CopyResult = { keys: 0, perDb: {}, vanished: 0 };
  let lastLog = Date.now();
  for (const db of dbs) {
    const src = sourceClient(db);
    await src.connect();
    const dst = await connectRedis({ ...target, db });
    try {
      const fetchPage = async (cursor: string): Promise<{ next: string; items: Item[] }> => {
        const [next, keys] = await src.scanBuffer(cursor, 'COUNT', batch);
        if (keys.length === 0) return { next: next.toString(), items: [] };
        const p = src.pipeline();
        for (const k of keys) {
          p.dumpBuffer(k);
          if (opts.absoluteTtl) p.pexpiretime(k);
          else p.pttl(k);
        }
        const res = (await p.exec()) ?? [];
        const items: Item[] = [];
        for (let i = 0; i < keys.length; i++) {
          const [e1, payload] = res[2 * i];
          const [e2, t] = res[2 * i + 1];
          if (e1 || e2) throw new OperationError(`reading keys from the throwaway server: ${errorMessage(e1 ?? e2)}`);
          const ttl = Number(t);
          if (payload === null || ttl === -2) {
            result.vanished++;
            continue;
          }
          items.push({ key: keys[i], payload: payload as Buffer, ttl: ttl === -1 ? 0 : ttl });
        }
        return { next: next.toString(), items };
      };
      const restorePage = async (items: Item[]) => {
        const p = dst.pipeline();
        for (const it of items) {
          if (opts.absoluteTtl) p.callBuffer('RESTORE', it.key, String(it.ttl), it.payload, 'REPLACE', 'ABSTTL');
          else p.callBuffer('RESTORE', it.key, String(it.ttl), it.payload, 'REPLACE');
        }
        const res = (await p.exec()) ?? [];
        for (const [err] of res) {
          if (err) {
            const msg = errorMessage(err);
            const hint = /payload version|checksum are wrong/i.test(msg) ? ' (the target Redis is older than the throwaway redis-server: its DUMP format is too new for it)' : '';
            throw new OperationError(`RESTORE into db ${db} of the target failed: ${msg}${hint}`, { cause: err });
          }
        }
      };

      let pending: Promise<{ next: string; items: Item[] }> | undefined = fetchPage('0');
      while (pending) {
        if (opts.signal?.aborted) throw new OperationError('aborted');
        const page: { next: string; items: Item[] } = await pending;
        pending = page.next === '0' ? undefined : fetchPage(page.next);
        // If the restore below fails, the prefetch's outcome no longer matters.
        pending?.catch(() => undefined);
        if (page.items.length > 0) {
          await restorePage(page.items);
          result.keys += page.items.length;
          result.perDb[db] = (result.perDb[db] ?? 0) + page.items.length;
        }
        if (Date.now() - lastLog > 5000) {
          lastLog = Date.now();
          opts.log.info({ db, keys: result.keys }, 'restoring keys');
        }
      }
    } finally {
      src.disconnect();
      dst.disconnect();
    }
  }
  return result;
}

/** Copies Redis Functions libraries (FUNCTION DUMP / FUNCTION RESTORE … REPLACE). */
export async function copyFunctions(source: Redis, target: Redis): Promise<void> {
  const payload = (await source.callBuffer('FUNCTION', 'DUMP')) as Buffer;
  await target.callBuffer('FUNCTION', 'RESTORE', payload, 'REPLACE');
}
