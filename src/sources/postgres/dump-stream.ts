import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';
import { BoundedText, toolFailure, type ToolRun } from './tools.js';

/**
 * The stdout of a dump tool as a stream that ends only once the tool has exited cleanly, and whatever else
 * must hold (`alsoWait`, e.g. the snapshot's row counts) has succeeded. A non-zero exit, a signal or an error
 * line on stderr makes the stream fail instead of ending, so the artifact writer aborts the upload and
 * nothing is stored under the artifact's key. Destroying the stream (the writer failed) kills the tool.
 */
export class ToolOutput extends Transform {
  private idleTimer?: NodeJS.Timeout;

  /**
   * `idleMs`: fail when the tool writes nothing for this long while we are waiting for it (its server went silent).
   * `source`: what to read instead of the tool's stdout (ZstdDumpOutput: the compressor reading it).
   */
  constructor(
    private readonly child: ChildProcess,
    private readonly done: Promise<ToolRun>,
    private readonly toolName: string,
    private readonly alsoWait: Promise<unknown> = Promise.resolve(),
    private readonly idleMs?: number,
    source?: Readable,
  ) {
    super();
    const out = source ?? child.stdout;
    if (!out) throw new Error(`${toolName}: stdout is not piped`);
    out.on('error', (err) => this.destroy(err));
    out.once('end', () => this.stopIdleTimer());
    out.pipe(this);
    this.armIdleTimer();
  }

  private armIdleTimer(): void {
    if (!this.idleMs) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      // Not the tool's fault when we are the ones not reading (the store is slow): wait again.
      if (this.readableLength >= this.readableHighWaterMark || this.writableLength > 0 || this.destroyed) return this.armIdleTimer();
      this.destroy(new Error(`${this.toolName} sent no data for ${Math.round(this.idleMs! / 1000)} s: the server stopped answering (sources.postgres.timeoutSeconds)`));
    }, this.idleMs);
    this.idleTimer.unref();
  }

  private stopIdleTimer(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.idleTimer) this.armIdleTimer();
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.stopIdleTimer();
    this.failureAtEnd().then(
      (why) => cb(why ? new Error(why) : null),
      (err: unknown) => cb(err instanceof Error ? err : new Error(String(err))),
    );
  }

  /** Once the output ended: why the stream must fail (the tool's exit, what `alsoWait` waits for), or undefined. */
  protected async failureAtEnd(): Promise<string | undefined> {
    const [run] = await Promise.all([this.done, this.alsoWait]);
    return toolFailure(this.toolName, run);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.stopIdleTimer();
    killIfRunning(this.child);
    cb(err);
  }
}

export function killIfRunning(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): void {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
}

/**
 * SIGTERM, then SIGKILL if the tool is still there after `graceMs`: on SIGTERM pg_dump sends the server a cancel
 * request and waits for it, which never ends when the server stopped answering.
 */
export async function stopTool<T>(child: ChildProcess, done: Promise<T>, graceMs = 5000): Promise<T> {
  killIfRunning(child);
  const timer = setTimeout(() => killIfRunning(child, 'SIGKILL'), graceMs);
  try {
    return await done;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * zstd's summary in verbose mode (`-vv`): `/*stdin*\ : 26.49%   (557138272 B => 147546291 B, /*stdout*\)` (zstd 1.5;
 * 1.4 wrote `(557138272 => 147546291 bytes, …)`). Only at -vv are the sizes exact bytes rather than rounded MiB.
 */
export function parseZstdSummary(stderr: string): { input: number; output: number } | undefined {
  const m = /\(\s*(\d+)(?: B)? =>\s*(\d+) (?:B|bytes),/.exec(stderr);
  return m ? { input: Number(m[1]), output: Number(m[2]) } : undefined;
}

export interface ZstdProcess {
  child: ChildProcess;
  done: Promise<ToolRun>;
  command: string;
}

/**
 * The zstd CLI compressing its stdin (a socket whose other end a dump tool is given as its stdout, see
 * spawnIntoZstd) to its stdout, at `level`, with the frame content checksum (`--check`, zstd's default, named
 * here because the manifest relies on it), and `-vv` for the exact byte counts of its summary (parseZstdSummary).
 */
export function spawnZstdCompressor(command: string, level: number): ZstdProcess {
  const child = spawn(command, ['-vv', '--no-progress', '-c', '--check', `-${level}`], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env.PATH } });
  const err = new BoundedText(16 * 1024);
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => err.push(s));
  const done = new Promise<ToolRun>((resolve) => {
    let spawnError: Error | undefined;
    child.once('error', (e) => (spawnError = e));
    child.once('close', (code, signal) => {
      resolve({ code: spawnError ? (code ?? 127) : code, signal, stderr: `${err.toString()}${spawnError ? `\nzstd: error: ${spawnError.message}` : ''}` });
    });
  });
  return { child, done, command };
}

/**
 * Starts a dump tool whose stdout is zstd's stdin, so the plaintext goes from one process to the other and never
 * through this one: Node reads only the compressed bytes (on the benchmark a quarter of the dump). zstd is started
 * first and the tool is given zstd's stdin; this process then closes its own copy of that descriptor, so zstd sees
 * the end of its input when the tool exits, and the tool a broken pipe when zstd dies. (Handing the tool's stdout to
 * zstd the other way round would race: Node starts reading a child's stdout as soon as it spawns it.)
 */
export function spawnIntoZstd(
  zstd: ZstdProcess,
  spawnTool: (stdout: Writable) => { child: ChildProcess; done: Promise<ToolRun> },
): { child: ChildProcess; done: Promise<ToolRun> } {
  const stdin = zstd.child.stdin!;
  let tool;
  try {
    tool = spawnTool(stdin);
  } catch (err) {
    killIfRunning(zstd.child, 'SIGKILL');
    throw err;
  } finally {
    // Closes this process's descriptor only (no shutdown: the socket is shared with the tool).
    stdin.destroy();
  }
  return tool;
}

/**
 * The compressed output of spawnIntoZstd as the artifact writer's input (writeCompressed). Like ToolOutput it ends
 * only when the dump tool exited cleanly and `alsoWait` held, and also only when zstd exited 0 and its summary
 * accounts for every compressed byte that arrived here; the plaintext size is zstd's count of what it read.
 * Destroying it kills both processes. The idle timeout watches the compressed output (zstd emits as it reads).
 */
export class ZstdDumpOutput extends ToolOutput {
  private compressed = 0;
  private plaintext: number | undefined;

  constructor(
    tool: { child: ChildProcess; done: Promise<ToolRun> },
    private readonly zstd: ZstdProcess,
    toolName: string,
    alsoWait?: Promise<unknown>,
    idleMs?: number,
  ) {
    super(tool.child, tool.done, toolName, alsoWait, idleMs, zstd.child.stdout!);
  }

  override _transform(chunk: Buffer, enc: BufferEncoding, cb: TransformCallback): void {
    this.compressed += chunk.length;
    super._transform(chunk, enc, cb);
  }

  protected override async failureAtEnd(): Promise<string | undefined> {
    const z = await this.zstd.done;
    // A zstd that failed is the cause of the tool's broken pipe, so it is named first.
    const zstdWhy = toolFailure(`zstd compression (${this.zstd.command})`, z, { stderrErrorsFail: false });
    if (zstdWhy) return zstdWhy;
    const toolWhy = await super.failureAtEnd();
    if (toolWhy) return toolWhy;
    const summary = parseZstdSummary(z.stderr);
    if (!summary) return `zstd compression (${this.zstd.command}): no "N B => M B" summary in its -vv output, so the plaintext size is unknown: ${z.stderr.trim().split('\n').slice(-2).join('; ')}`;
    if (summary.output !== this.compressed) return `zstd compression: zstd wrote ${summary.output} bytes and ${this.compressed} arrived`;
    this.plaintext = summary.input;
    return undefined;
  }

  private readSoFar: { bytes: number | undefined; at: number } = { bytes: 0, at: 0 };

  /**
   * While the dump runs: about how many plaintext bytes zstd has read so far, for progress against the database size
   * (the bytes this process sees are compressed). Linux counts them in /proc/<pid>/io (rchar: every byte read()
   * returned, the dump through its stdin plus a few KiB of its own start-up); looked up at most every 250 ms.
   * Undefined where that file cannot be read (not Linux, another user): progress then counts compressed bytes.
   */
  plaintextSoFar(): number | undefined {
    const now = Date.now();
    if (now - this.readSoFar.at >= 250 && this.zstd.child.pid !== undefined && this.readSoFar.bytes !== undefined) {
      this.readSoFar = { bytes: readCharCount(this.zstd.child.pid), at: now };
    }
    return this.readSoFar.bytes;
  }

  /** After the stream ended: the plaintext bytes zstd read, i.e. the dump's size. */
  plaintextSize(): number {
    if (this.plaintext === undefined) throw new Error('ZstdDumpOutput: the stream has not ended');
    return this.plaintext;
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    killIfRunning(this.zstd.child);
    super._destroy(err, cb);
  }
}

/** `rchar` of /proc/<pid>/io: the bytes a process has read so far; undefined where that cannot be read. */
export function readCharCount(pid: number): number | undefined {
  try {
    const m = /^rchar:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
