import { readFileSync, statSync } from 'node:fs';
import { resolveConfigPath, type Config } from '../config/index.js';
import { loadConfig } from '../sources/registry.js';
import { openStore, type ObjectStore } from '../store/index.js';
import { createLogger, type Logger, type LogLevel } from '../util/log.js';
import { LogCapture } from '../util/log-capture.js';
import { UsageError } from '../util/errors.js';
import { configureZstd } from '../util/compression.js';
import { createProgress, type Progress } from '../observe/progress.js';

export interface GlobalOptions {
  config?: string;
  output: 'table' | 'json';
  logLevel: LogLevel;
}

export interface Env {
  config: Config;
  store: ObjectStore;
  log: Logger;
  output: 'table' | 'json';
  /** Every JSON line `log` writes, for whoever opens a session (a backup stores its own log). */
  logCapture?: LogCapture;
}

export function parseOutput(v: string): 'table' | 'json' {
  if (v !== 'table' && v !== 'json') throw new UsageError(`-o ${v}: expected table or json`);
  return v;
}

export function createLog(g: GlobalOptions, capture?: LogCapture): Logger {
  return createLogger(g.logLevel, undefined, capture);
}

/** The placeholder k8s/cronjobs/secrets/* ship with: a Secret still holding it is refused before anything runs. */
export const SECRET_PLACEHOLDER = 'REPLACE_ME';

/** Refuses (exit 2) an environment in which a variable still holds the placeholder, naming every such variable. */
export function refusePlaceholders(env: NodeJS.ProcessEnv = process.env): void {
  const names = Object.entries(env)
    .filter(([, v]) => v !== undefined && v.includes(SECRET_PLACEHOLDER))
    .map(([k]) => k)
    .sort();
  if (names.length > 0) {
    throw new UsageError(
      `${names.join(', ')} still hold${names.length === 1 ? 's' : ''} the placeholder ${SECRET_PLACEHOLDER} (a Secret in the environment): ` +
        'put the real values into the Secrets (k8s/cronjobs/secrets/README.md); nothing was done',
    );
  }
}

/**
 * The credential files a config and the environment name: the password files, and the files the AWS SDK and libpq
 * read (AWS_SHARED_CREDENTIALS_FILE, PGPASSFILE). In Kubernetes these are Secrets mounted as files.
 */
export function credentialFiles(config: Config, env: NodeJS.ProcessEnv = process.env): Array<{ what: string; file: string }> {
  const named: Array<[string, string | undefined]> = [
    ['sources.postgres.passwordFile', config.sources.postgres?.passwordFile],
    ['sources.postgres.pitr.passwordFile', config.sources.postgres?.pitr?.passwordFile],
    ['sources.redis.passwordFile', config.sources.redis?.passwordFile],
    ['drill.postgres.passwordFile', config.drill.postgres?.passwordFile],
    ['drill.redis.passwordFile', config.drill.redis.passwordFile],
    ['AWS_SHARED_CREDENTIALS_FILE', env.AWS_SHARED_CREDENTIALS_FILE],
    ['PGPASSFILE', env.PGPASSFILE],
  ];
  return named.filter((n): n is [string, string] => Boolean(n[1])).map(([what, file]) => ({ what, file }));
}

/**
 * Refuses (exit 2) a config whose credential files (credentialFiles) still hold the placeholder, naming each one.
 * A file that is missing or unreadable is left to the command that uses it: a job mounts only the Secrets it needs
 * (the prune container has no database password), so a file that is not there is not an error here.
 */
export function refusePlaceholderFiles(config: Config, env: NodeJS.ProcessEnv = process.env): void {
  const found = credentialFiles(config, env).filter(({ file }) => {
    try {
      const st = statSync(file);
      return st.isFile() && st.size <= 1024 * 1024 && readFileSync(file, 'utf8').includes(SECRET_PLACEHOLDER);
    } catch {
      return false;
    }
  });
  if (found.length > 0) {
    throw new UsageError(
      `${found.map(({ what, file }) => `${what} ${file}`).join(', ')} still hold${found.length === 1 ? 's' : ''} the placeholder ${SECRET_PLACEHOLDER} (k8s/cronjobs/secrets/): ` +
        'put the real values into the Secrets (k8s/cronjobs/secrets/README.md); nothing was done',
    );
  }
}

export async function loadEnv(g: GlobalOptions): Promise<Env> {
  refusePlaceholders();
  const logCapture = new LogCapture();
  const log = createLog(g, logCapture);
  const config = await loadConfig(resolveConfigPath(g.config));
  refusePlaceholderFiles(config);
  configureZstd(config.zstd);
  return { config, store: openStore(config.store), log, output: g.output, logCapture };
}

/** Progress of a command's artifact reads or writes: bars on a terminal (table output), else JSON progress lines. */
export function progressFor(env: Env, operation: string): Progress {
  return createProgress({ tty: process.stderr.isTTY === true && env.output === 'table', log: env.log, operation });
}

/** Writes a line to stdout (results), never logs. */
export function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

export function printJson(v: unknown): void {
  out(JSON.stringify(v, null, 2));
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function formatAge(from: Date | undefined, now = new Date()): string {
  if (!from) return '?';
  const s = Math.max(0, Math.round((now.getTime() - from.getTime()) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (c ?? '').padEnd(widths[i])).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export function parseList<T extends string>(v: string | undefined, allowed: readonly T[], flag: string): T[] | undefined {
  if (!v) return undefined;
  const items = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const i of items) {
    if (!allowed.includes(i as T)) throw new UsageError(`${flag} ${v}: unknown value "${i}" (expected ${allowed.join(', ')})`);
  }
  return items as T[];
}

export function parsePositiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} ${v}: expected a positive whole number`);
  return n;
}
