import type { ChildProcess } from 'node:child_process';
import { Transform, type TransformCallback } from 'node:stream';
import { toolFailure, type ToolRun } from '../util/pg-tools.js';

/**
 * The stdout of a dump tool as a stream that ends only once the tool has exited cleanly, and whatever else
 * must hold (`alsoWait`, e.g. the snapshot's row counts) has succeeded. A non-zero exit, a signal or an error
 * line on stderr makes the stream fail instead of ending, so the artifact writer aborts the upload and
 * nothing is stored under the artifact's key. Destroying the stream (the writer failed) kills the tool.
 */
export class ToolOutput extends Transform {
  constructor(
    private readonly child: ChildProcess,
    private readonly done: Promise<ToolRun>,
    private readonly toolName: string,
    private readonly alsoWait: Promise<unknown> = Promise.resolve(),
  ) {
    super();
    const out = child.stdout;
    if (!out) throw new Error(`${toolName}: stdout is not piped`);
    out.on('error', (err) => this.destroy(err));
    out.pipe(this);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    Promise.all([this.done, this.alsoWait]).then(
      ([run]) => {
        const why = toolFailure(this.toolName, run);
        cb(why ? new Error(why) : null);
      },
      (err: unknown) => cb(err instanceof Error ? err : new Error(String(err))),
    );
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    killIfRunning(this.child);
    cb(err);
  }
}

export function killIfRunning(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): void {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
}
