import cliProgress from 'cli-progress';
import type { ArtifactProgress } from '../repository/artifact-writer.js';
import type { Logger } from '../util/log.js';

export interface ProgressOptions {
  /** Bars on the terminal (stderr is a TTY and results are a table); else JSON log lines. */
  tty: boolean;
  log: Logger;
  /** What is running: backup, restore, verify, drill (in every progress line). */
  operation: string;
  /** Seconds between progress lines without a terminal (default: GUSHEN_DR_PROGRESS_SECONDS, else 10). */
  intervalSeconds?: number;
}

/** A progress reporter that can be stopped (its timer cleared, bars closed) when the command ends. */
export type Progress = ArtifactProgress & { stop(): void };

/** GUSHEN_DR_PROGRESS_SECONDS: a positive number of seconds (fractions allowed), else 10. */
export function progressIntervalSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.GUSHEN_DR_PROGRESS_SECONDS);
  return Number.isFinite(v) && v > 0 ? v : 10;
}

interface Item {
  name: string;
  total?: number;
  bytes: number;
  started: number;
  bar?: cliProgress.SingleBar;
}

const MiB = 1024 * 1024;

/** Bytes per second so far, and the seconds left at that rate when the total is known. */
function rates(it: Item, now = Date.now()): { seconds: number; bytesPerSecond: number; etaSeconds?: number } {
  const seconds = Math.max(0.001, (now - it.started) / 1000);
  const bytesPerSecond = it.bytes / seconds;
  const etaSeconds = it.total !== undefined && bytesPerSecond > 0 ? Math.max(0, (it.total - it.bytes) / bytesPerSecond) : undefined;
  return { seconds, bytesPerSecond, etaSeconds };
}

/**
 * Progress of the artifacts a command writes or reads. On a terminal: a bar per artifact, with its total and ETA when
 * the size is known (a database's pg_database_size, Redis's used_memory: estimates; a stored object's size: exact),
 * else bytes and rate. Otherwise one JSON log line `msg: "progress"` per running artifact every interval (bytes,
 * totalBytes, bytesPerSecond, etaSeconds), and one when it finishes (`done: true`).
 */
export function createProgress(o: ProgressOptions): Progress {
  const items = new Map<string, Item>();
  const intervalMs = (o.intervalSeconds ?? progressIntervalSeconds()) * 1000;
  const line = (it: Item, done: boolean) => {
    const r = rates(it);
    o.log.info(
      {
        operation: o.operation,
        item: it.name,
        bytes: it.bytes,
        ...(it.total !== undefined && { totalBytes: it.total }),
        bytesPerSecond: Math.round(r.bytesPerSecond),
        ...(r.etaSeconds !== undefined && !done && { etaSeconds: Math.round(r.etaSeconds) }),
        seconds: Math.round(r.seconds * 10) / 10,
        ...(done && { done: true }),
      },
      'progress',
    );
  };
  let timer: NodeJS.Timeout | undefined;
  const multi = o.tty
    ? new cliProgress.MultiBar({ hideCursor: true, clearOnComplete: false, stream: process.stderr, etaBuffer: 50, fps: 5 }, cliProgress.Presets.shades_classic)
    : undefined;
  const known = ' {name} |{bar}| {percentage}% | {done_mib}/{total_mib} MiB | {speed} MB/s | ETA {eta_formatted}';
  const unknown = ' {name} | {done_mib} MiB | {speed} MB/s';
  const payload = (it: Item) => ({
    name: it.name.padEnd(24),
    done_mib: (it.bytes / MiB).toFixed(1),
    total_mib: it.total !== undefined ? (it.total / MiB).toFixed(1) : '?',
    speed: (rates(it).bytesPerSecond / 1e6).toFixed(1),
  });

  return {
    start(name, totalBytes) {
      const it: Item = { name, total: totalBytes && totalBytes > 0 ? totalBytes : undefined, bytes: 0, started: Date.now() };
      items.set(name, it);
      if (multi) it.bar = multi.create(it.total ?? 1, 0, payload(it), { format: it.total !== undefined ? known : unknown });
      else if (!timer) {
        timer = setInterval(() => {
          for (const x of items.values()) line(x, false);
        }, intervalMs);
        timer.unref();
      }
    },
    update(name, bytes) {
      const it = items.get(name);
      if (!it) return;
      it.bytes = bytes;
      // An estimate that was too low grows with what was seen (the bar never passes 100%).
      if (it.total !== undefined && bytes > it.total) {
        it.total = bytes;
        it.bar?.setTotal(bytes);
      }
      it.bar?.update(it.total !== undefined ? bytes : 0, payload(it));
    },
    finish(name) {
      const it = items.get(name);
      if (!it) return;
      items.delete(name);
      if (it.bar) {
        if (it.total !== undefined) it.bar.setTotal(it.bytes || 1);
        it.bar.update(it.total !== undefined ? it.bytes || 1 : 0, payload(it));
        it.bar.stop();
        if (items.size === 0) multi?.stop();
      } else line(it, true);
      if (items.size === 0 && timer) {
        clearInterval(timer);
        timer = undefined;
      }
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      multi?.stop();
    },
  };
}
