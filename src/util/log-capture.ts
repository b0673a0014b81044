import { Writable } from 'node:stream';

/** Credentials that could still reach a log line: a URL's userinfo password and libpq's `?password=` / `&sslpassword=`. */
const USERINFO_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s"/@:]*):[^\s"@/]*@/gi;
const PASSWORD_PARAM = /([?&](?:ssl)?password=)[^&\s"]*/gi;
/** Keys whose values are never kept, whatever they hold. */
const SECRET_KEYS = /("(?:password|passwd|secret|token|authorization|accessKeyId|secretAccessKey|AWS_SECRET_ACCESS_KEY|PGPASSWORD)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi;

/** One JSON log line with any credential that slipped into it replaced by `***`. */
export function redactLogLine(line: string): string {
  return line.replace(USERINFO_PASSWORD, '$1:***@').replace(PASSWORD_PARAM, '$1***').replace(SECRET_KEYS, '$1"***"');
}

/** The lines a capture collected between `begin()` and `end()`. */
export interface LogSession {
  /** JSON lines, each ending in a newline, credentials redacted; at most `limitBytes` (then a last line says how many were dropped). */
  text(): string;
  end(): void;
}

/**
 * A second destination of the command's logger (src/util/log.ts createLogger): while a session is open, every JSON line
 * the process logs is kept for it (redacted, bounded). A backup opens one and stores what it collected with the backup.
 */
export class LogCapture extends Writable {
  private readonly sessions = new Set<{ lines: string[]; bytes: number; dropped: number }>();

  constructor(private readonly limitBytes = 8 * 1024 * 1024) {
    super({ decodeStrings: false });
  }

  override _write(chunk: string | Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.sessions.size > 0) {
      const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      for (const raw of text.split('\n')) {
        if (!raw) continue;
        const line = `${redactLogLine(raw)}\n`;
        for (const s of this.sessions) {
          if (s.bytes + line.length > this.limitBytes) s.dropped++;
          else {
            s.lines.push(line);
            s.bytes += line.length;
          }
        }
      }
    }
    cb();
  }

  begin(): LogSession {
    const s = { lines: [] as string[], bytes: 0, dropped: 0 };
    this.sessions.add(s);
    return {
      text: () => s.lines.join('') + (s.dropped > 0 ? `${JSON.stringify({ level: 40, time: Date.now(), msg: `log truncated: ${s.dropped} more lines were not kept` })}\n` : ''),
      end: () => {
        this.sessions.delete(s);
      },
    };
  }
}
