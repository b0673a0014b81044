import type { ChildProcess } from 'node:child_process';
import { Transform, type TransformCallback } from 'node:stream';
import { toolFailure, type ToolRun } from './tools.js';

/**
 * The stdout of a dump tool as a stream that ends only once the tool has exited cleanly, and whatever else
 * must hold (`alsoWait`, e.g. the snapshot's row counts) has succeeded. A non-zero exit, a signal or an error
 * line on stderr makes the stream fail instead of ending, so the artifact writer aborts the upload and
 * nothing is stored under the artifact's key. Destroying the stream (the writer failed) kills the tool.
 */
export class ToolOutput extends Transform {
  private idleTimer?: NodeJS.Timeout;

  /** `idleMs`: fail when the tool writes nothing for this long while we are waiting for it (its server went silent). */
  constructor(
    private readonly child: ChildProcess,
    private readonly done: Promise<ToolRun>,
    private readonly toolName: string,
    private readonly alsoWait: Promise<unknown> = Promise.resolve(),
    private readonly idleMs?: number,
  ) {
    super();
    const out = child.stdout;
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
    Promise.all([this.done, this.alsoWait]).then(
      ([run]) => {
        const why = toolFailure(this.toolName, run);
        cb(why ? new Error(why) : null);
      },
      (err: unknown) => cb(err instanceof Error ? err : new Error(String(err))),
    );
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
