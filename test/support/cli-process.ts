import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository root (for the CLI's source and relative paths). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CliExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface CliProcess {
  child: ChildProcess;
  pid: number;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** Settles when the process has exited and its output streams have closed. */
  exited: Promise<CliExit>;
  /** Sends a signal (SIGTERM by default); false when the process is already gone. */
  signal(sig?: NodeJS.Signals): boolean;
  /** Resolves with the first stderr line matching `re` (the JSON log lines in non-TTY mode), or rejects on exit/timeout. */
  waitForStderr(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Parsed JSON log lines from stderr (lines that are not JSON are left out). */
  logs(): Array<Record<string, unknown>>;
}

export interface CliProcessOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Replace the environment instead of extending process.env. */
  cleanEnv?: boolean;
}

/**
 * Runs the real CLI (`src/cli.ts` through tsx, no build needed) as a child process of the current Node.
 * Stdout and stderr are captured; signals can be sent; the exit code is reported.
 */
export function startCliProcess(args: string[], opts: CliProcessOptions = {}): CliProcess {
  const cliUrl = pathToFileURL(`${REPO_ROOT}src/cli.ts`).href;
  const tsx = import.meta.resolve('tsx');
  // With -e there is no script path in argv: put a placeholder where commander expects it.
  const code = `import(${JSON.stringify(cliUrl)}).then((m) => m.main([process.argv[0], 'gushen-dr', ...process.argv.slice(1)]))`;
  const baseEnv = opts.cleanEnv ? {} : process.env;
  const env: NodeJS.ProcessEnv = { ...baseEnv };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const child = spawn(process.execPath, ['--import', tsx, '-e', code, '--', ...args], {
    cwd: opts.cwd ?? REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }> = [];
  let stderrLineBuf = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    stderrLineBuf += d;
    const lines = stderrLineBuf.split('\n');
    stderrLineBuf = lines.pop() ?? '';
    for (const line of lines) {
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          clearTimeout(w.timer);
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  const exited = new Promise<CliExit>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      for (const w of waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new Error(`gushen-dr exited (code ${code}, signal ${signal}) before logging ${w.re}; stderr:\n${err.slice(-4000)}`));
      }
      resolve({ code, signal });
    });
  });
  exited.catch(() => undefined);
  return {
    child,
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    exited,
    signal: (sig = 'SIGTERM') => child.exitCode === null && child.signalCode === null && child.kill(sig),
    waitForStderr: (re, timeoutMs = 60_000) => {
      const already = err.split('\n').find((l) => re.test(l));
      if (already !== undefined) return Promise.resolve(already);
      if (child.exitCode !== null || child.signalCode !== null) {
        return Promise.reject(new Error(`gushen-dr already exited before logging ${re}; stderr:\n${err.slice(-4000)}`));
      }
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.findIndex((w) => w.timer === timer), 1);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re} on gushen-dr's stderr; stderr:\n${err.slice(-4000)}`));
        }, timeoutMs);
        waiters.push({ re, resolve, reject, timer });
      });
    },
    logs: () =>
      err
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, unknown>];
          } catch {
            return [];
          }
        }),
  };
}

/** Runs the CLI to completion. */
export async function runCliProcess(args: string[], opts: CliProcessOptions = {}): Promise<CliExit & { stdout: string; stderr: string }> {
  const p = startCliProcess(args, opts);
  const r = await p.exited;
  return { ...r, stdout: p.stdout(), stderr: p.stderr() };
}
