import type { Redis } from 'ioredis';
import type { Logger } from '../../util/log.js';
import { OperationError, errorMessage } from '../../util/errors.js';
import { parseInfo } from './client.js';

export interface BgsaveOptions {
  timeoutMs: number;
  log: Logger;
  signal?: AbortSignal;
  /** How often INFO persistence is polled. */
  pollMs?: number;
  /** Called once BGSAVE has been accepted: `scheduled` when it waits behind an AOF rewrite. */
  onIssued?: (info: { scheduled: boolean; at: number }) => void;
}

export interface BgsaveResult {
  /** LASTSAVE (unix seconds) after our save. */
  lastsave: number;
  /** Whether the save had to be scheduled behind an AOF rewrite. */
  scheduled: boolean;
  durationMs: number;
  /** BGSAVEs this call issued: 2 when the first ended within the second of the previous save and was taken again. */
  saves: number;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

async function persistence(client: Redis): Promise<Map<string, string>> {
  return parseInfo(await client.info('persistence'));
}

/**
 * Takes a fresh RDB snapshot with BGSAVE and waits for it:
 *   1. wait while the server is loading, and for a save that is already running (it may predate our
 *      backup) — then take our own;
 *   2. note LASTSAVE;
 *   3. BGSAVE, or BGSAVE SCHEDULE while an AOF rewrite runs (plain BGSAVE is refused then);
 *   4. poll INFO persistence until rdb_bgsave_in_progress:0, then require rdb_last_bgsave_status:ok
 *      and a LASTSAVE newer than before; give up after the timeout.
 * LASTSAVE counts seconds. A save that ends within the second of the previous one cannot be told apart
 * from it, so that save is not accepted: we wait for the server clock to pass the old LASTSAVE and take
 * another. Waiting for the clock up front instead would delay every backup taken within a second of a
 * save by up to a second, for what only a sub-second save can run into. A scheduled save starts when
 * the AOF rewrite ends, which we do not see, so for it the clock is passed before asking.
 */
export async function bgsave(client: Redis, opts: BgsaveOptions): Promise<BgsaveResult> {
  const started = Date.now();
  const deadline = started + opts.timeoutMs;
  const poll = opts.pollMs ?? 100;
  const left = () => deadline - Date.now();
  const timeout = (what: string, info?: Map<string, string>) =>
    new OperationError(
      `BGSAVE: timed out after ${Math.round(opts.timeoutMs / 1000)} s ${what}` +
        (info
          ? ` (rdb_bgsave_in_progress:${info.get('rdb_bgsave_in_progress')}, rdb_current_bgsave_time_sec:${info.get('rdb_current_bgsave_time_sec')}, aof_rewrite_in_progress:${info.get('aof_rewrite_in_progress')})`
          : '') +
        '; raise sources.redis.bgsaveTimeoutSeconds if the dataset is large',
    );

  let info = await persistence(client);
  while (info.get('loading') === '1') {
    if (left() <= 0) throw timeout('waiting for the server to finish loading its dataset', info);
    opts.log.info('redis is loading its dataset; waiting');
    await sleep(500, opts.signal);
    info = await persistence(client);
  }

  let mustPassSecond = false;
  let saves = 0;
  for (let attempt = 0; ; attempt++) {
    if (info.get('rdb_bgsave_in_progress') === '1') {
      opts.log.info('a save is already running on the server; waiting for it before taking a fresh one');
      while (info.get('rdb_bgsave_in_progress') === '1') {
        if (left() <= 0) throw timeout('waiting for a save that was already running', info);
        await sleep(poll, opts.signal);
        info = await persistence(client);
      }
    }
    const before = Number(await client.lastsave());
    const statusBefore = info.get('rdb_last_bgsave_status');
    const passSecond = async () => {
      for (;;) {
        const [secs] = (await client.time()) as unknown as [string | number, string | number];
        if (Number(secs) > before) return;
        await sleep(100, opts.signal);
      }
    };
    const aofRewriting = info.get('aof_rewrite_in_progress') === '1';
    if (mustPassSecond || aofRewriting) await passSecond();
    let reply: string;
    let scheduled = false;
    let issuedAt = Date.now();
    try {
      if (aofRewriting) {
        reply = String(await client.call('BGSAVE', 'SCHEDULE'));
        scheduled = /scheduled/i.test(reply);
      } else {
        reply = String(await client.bgsave());
      }
    } catch (err) {
      const msg = errorMessage(err);
      if (/already in progress/i.test(msg) && attempt < 5) {
        info = await persistence(client);
        if (info.get('rdb_bgsave_in_progress') !== '1') await sleep(poll, opts.signal);
        info = await persistence(client);
        continue;
      }
      if (/append only file rewriting|child process|another child/i.test(msg)) {
        await passSecond();
        issuedAt = Date.now();
        reply = String(await client.call('BGSAVE', 'SCHEDULE'));
        scheduled = /scheduled/i.test(reply);
      } else {
        throw new OperationError(`BGSAVE was refused: ${msg}`, { cause: err });
      }
    }
    saves++;
    opts.log.debug({ reply, scheduled }, 'BGSAVE issued');
    opts.onIssued?.({ scheduled, at: issuedAt });
    if (scheduled) opts.log.info('an AOF rewrite is running; BGSAVE is scheduled to run after it');

    let sawRunning = false;
    for (;;) {
      await sleep(poll, opts.signal);
      info = await persistence(client);
      if (info.get('rdb_bgsave_in_progress') === '1') {
        sawRunning = true;
      } else {
        const last = Number(info.get('rdb_last_save_time'));
        const status = info.get('rdb_last_bgsave_status');
        if (status === 'ok' && last > before) {
          const lastsave = Number(await client.lastsave());
          if (lastsave <= before) throw new OperationError(`BGSAVE: LASTSAVE did not advance (${lastsave} ≤ ${before})`);
          return { lastsave, scheduled, durationMs: Date.now() - started, saves };
        }
        if (status === 'ok' && !scheduled && !mustPassSecond) {
          // Our child has been reaped (it was forked before the reply), within the second of the last save.
          opts.log.debug({ lastsave: last }, 'the save ended within the second of the previous one; taking another once the clock has passed it');
          mustPassSecond = true;
          break;
        }
        // Our save failed if it started (or was seen running) and the status now says err.
        if (status === 'err' && (!scheduled || sawRunning || statusBefore === 'ok')) {
          throw new OperationError(
            'BGSAVE failed on the server (rdb_last_bgsave_status:err): Redis could not write its RDB file — ' +
              'check that its data directory exists, is writable and has free space (the Redis log has the reason)',
          );
        }
      }
      if (left() <= 0) throw timeout('waiting for BGSAVE to finish', info);
    }
  }
}
