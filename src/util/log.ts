import { pino, type Logger } from 'pino';
import { Writable } from 'node:stream';

export type { Logger };
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/**
 * JSON lines on stderr; on a TTY a short human form instead.
 * Never pass credentials or secret values to a log call: redact URLs with redactUrl().
 */
export function createLogger(level: LogLevel = 'info', human = process.stderr.isTTY === true, capture?: Writable): Logger {
  const out = human ? humanStream() : pino.destination({ fd: 2, sync: true });
  const opts = human ? { base: undefined, timestamp: false } : { base: { name: 'gushen-dr' } };
  if (!capture) return pino({ level, ...opts }, out);
  // A capture (src/util/log-capture.ts: a backup's stored log) gets JSON lines from info up, whatever stderr's level.
  const streams: pino.StreamEntry[] = [{ level: 'info', stream: capture }];
  if (level !== 'silent') streams.push({ level, stream: out });
  const min = level === 'silent' || pino.levels.values[level] > pino.levels.values.info ? 'info' : level;
  return pino({ level: min, ...(human ? { base: undefined } : opts) }, pino.multistream(streams));
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

function humanStream(): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      try {
        process.stderr.write(`${formatHumanLine(JSON.parse(chunk.toString()) as Record<string, unknown>)}\n`);
      } catch {
        process.stderr.write(chunk);
      }
      cb();
    },
  });
}

/** One parsed log line as people read it: `info  backup started  backup=… sources=[…]` (no time, no name). */
export function formatHumanLine(line: Record<string, unknown>, withTime = false): string {
  const { level, msg, time, name: _n, ...rest } = line;
  const extra = Object.entries(rest)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
  const at = withTime && typeof time === 'number' ? `${new Date(time).toISOString()} ` : '';
  return `${at}${(LEVELS[level as number] ?? 'log').padEnd(5)} ${String(msg ?? '')}${extra ? `  ${extra}` : ''}`;
}

/** A logger that drops everything (library use and tests). */
export const silentLogger: Logger = pino({ level: 'silent' });
