import { pino, type Logger } from 'pino';
import { Writable } from 'node:stream';

export type { Logger };
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/**
 * JSON lines on stderr; on a TTY a short human form instead.
 * Never pass credentials or secret values to a log call: redact URLs with redactUrl().
 */
export function createLogger(level: LogLevel = 'info', human = process.stderr.isTTY === true): Logger {
  if (!human) return pino({ level, base: { name: 'gushen-dr' } }, pino.destination({ fd: 2, sync: true }));
  return pino({ level, base: undefined, timestamp: false }, humanStream());
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

function humanStream(): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      try {
        const { level, msg, time: _t, ...rest } = JSON.parse(chunk.toString()) as Record<string, unknown>;
        const extra = Object.entries(rest)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
          .join(' ');
        process.stderr.write(`${(LEVELS[level as number] ?? 'log').padEnd(5)} ${String(msg ?? '')}${extra ? `  ${extra}` : ''}\n`);
      } catch {
        process.stderr.write(chunk);
      }
      cb();
    },
  });
}

/** A logger that drops everything (library use and tests). */
export const silentLogger: Logger = pino({ level: 'silent' });
