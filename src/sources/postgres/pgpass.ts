import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** What libpq matches a password file line against. */
export interface PgpassQuery {
  /** Host name, or a Unix socket directory; empty for libpq's default. */
  host: string;
  port: string;
  database: string;
  user: string;
}

/** libpq's default Unix socket directory (Debian/Ubuntu's build): libpq matches it as `localhost`. */
const DEFAULT_SOCKET_DIR = '/var/run/postgresql';

/** One `hostname:port:database:username:password` line: fields with `\` escapes; a field that is `*` alone matches anything. */
function parseLine(line: string): { fields: Array<string | null>; password: string } | undefined {
  const fields: Array<string | null> = [];
  let cur = '';
  let raw = '';
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === '\\' && i + 1 < line.length) {
      cur += line[++i];
      raw += `\\${line[i]}`;
    } else if (ch === ':' && fields.length < 4) {
      fields.push(raw === '*' ? null : cur);
      cur = '';
      raw = '';
    } else {
      cur += ch;
      raw += ch;
    }
  }
  if (fields.length < 4) return undefined;
  return { fields, password: cur };
}

/**
 * The password libpq would take from the password file for this connection: `PGPASSFILE`, else `~/.pgpass`.
 * Like libpq, a file that is not a regular file, or that group or others may read, is ignored; the first line
 * matching host, port, database and user wins. For our own node-postgres connections, so that they and the
 * pg_dump / pg_restore / psql children (libpq reads the file itself) use the same password.
 */
export function pgpassPassword(q: PgpassQuery, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env.PGPASSFILE || join(env.HOME || homedir(), '.pgpass');
  let text: string;
  try {
    const st = statSync(file);
    if (!st.isFile() || (st.mode & 0o077) !== 0) return undefined;
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const host = q.host === '' || q.host === DEFAULT_SOCKET_DIR ? 'localhost' : q.host;
  const want = [host, q.port || '5432', q.database, q.user];
  for (const line of text.split(/\r?\n/)) {
    if (line === '' || line.startsWith('#')) continue;
    const parsed = parseLine(line);
    if (!parsed) continue;
    if (parsed.fields.every((f, i) => f === null || f === want[i])) return parsed.password || undefined;
  }
  return undefined;
}
