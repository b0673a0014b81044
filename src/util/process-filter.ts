import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { Duplex } from 'node:stream';

const STDERR_KEEP = 2048;

/**
 * A stream through a command's stdin and stdout (e.g. `zstd -3 -c`): what is written goes to its stdin, what it
 * prints comes out. Backpressure follows the pipes, so memory stays bounded. The stream ends only when the
 * command exits 0 after its stdout ended; any other exit, a signal, or a failure to start destroys it with an
 * error naming the command, its exit and the tail of its stderr. Destroying the stream kills the command.
 */
export class ProcessFilter extends Duplex {
  private readonly child: ChildProcessWithoutNullStreams;
  private stderr = '';
  private exited = false;
  /** A write failed (EPIPE): the command stopped reading before the end of its input. */
  private inputRefused = false;

  constructor(
    private readonly label: string,
    private readonly command: string,
    args: string[],
    env: NodeJS.ProcessEnv = { PATH: process.env.PATH },
  ) {
    super();
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    const { stdin, stdout, stderr } = this.child;
    stdout.on('data', (c: Buffer) => {
      if (!this.push(c)) stdout.pause();
    });
    stderr.on('data', (c: Buffer) => {
      this.stderr = (this.stderr + c.toString('utf8')).slice(-STDERR_KEEP);
    });
    // A command that exits early makes our writes fail with EPIPE; its exit status (below) says why.
    stdin.on('error', () => undefined);
    this.child.on('error', (err) => this.destroy(new Error(`${this.label}: could not run ${command}: ${err.message}`, { cause: err })));
    this.child.on('close', (code, signal) => {
      this.exited = true;
      if (code === 0 && this.inputRefused) return void this.destroy(this.stoppedReading());
      if (code === 0) {
        this.push(null);
        return;
      }
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const tail = this.stderr.trim();
      this.destroy(new Error(`${this.label}: ${command} ${how}${tail ? `: ${tail}` : ''}`));
    });
  }

  private stoppedReading(): Error {
    return new Error(`${this.label}: ${this.command} exited without reading all of its input`);
  }

  override _read(): void {
    this.child.stdout.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    // On EPIPE the callback never comes: the close handler destroys this stream with the command's own error
    // (or, when it exited 0 all the same, with the fact that it left input unread).
    this.child.stdin.write(chunk, (err) => {
      if (!err) return cb();
      this.inputRefused = true;
      if (this.exited && !this.destroyed) this.destroy(this.stoppedReading());
    });
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.child.stdin.end(() => cb());
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.exited) this.child.kill('SIGKILL');
    this.child.stdout.destroy();
    this.child.stdin.destroy();
    cb(err);
  }
}
