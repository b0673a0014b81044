import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable, Writable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { compressionStages, configureZstd, decompressionStages, zstdEngine } from '../../src/util/compression.js';
import { findExecutable } from '../../src/util/executables.js';
import { ProcessFilter } from '../../src/util/process-filter.js';

const haveZstd = findExecutable('zstd') !== undefined;
const itZstd = haveZstd ? it : it.skip;
if (!haveZstd) console.warn('compression tests: the zstd command is not installed; the command-engine tests skip');

/** Mixed data: compressible text and random runs, in chunks of odd sizes. */
function sample(): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < 60; i++) {
    chunks.push(i % 3 === 0 ? randomBytes(7001 + i * 131) : Buffer.from(`row ${i}\tstrategy-${i % 7}\t${'x'.repeat(i * 97)}\n`.repeat(40)));
  }
  return chunks;
}

async function run(chunks: Buffer[], stages: Duplex[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline([
    Readable.from(chunks),
    ...stages,
    new Writable({
      write(c: Buffer, _e, cb) {
        out.push(c);
        cb();
      },
    }),
  ]);
  return Buffer.concat(out);
}

afterEach(() => configureZstd({}));

describe('zstd engines', () => {
  itZstd('each engine reads what the other wrote, byte for byte, and the zstd CLI agrees', async () => {
    const input = sample();
    const plain = Buffer.concat(input);
    configureZstd({ engine: 'command' });
    const byCommand = await run(input, compressionStages('zstd', 3));
    configureZstd({ engine: 'node' });
    const byNode = await run(input, compressionStages('zstd', 3));
    expect(byCommand.length).toBeLessThan(plain.length);
    expect((await run([byCommand], decompressionStages('zstd'))).equals(plain)).toBe(true);
    configureZstd({ engine: 'command' });
    expect((await run([byNode], decompressionStages('zstd'))).equals(plain)).toBe(true);
    // Both carry a content checksum: `zstd -t` checks it.
    for (const frame of [byCommand, byNode]) execFileSync('zstd', ['-q', '-t'], { input: frame });
  });

  itZstd('auto picks the command when it is on PATH, node when it is not', () => {
    configureZstd({ engine: 'auto' });
    expect(zstdEngine()).toBe('command');
    configureZstd({ engine: 'auto', command: '/nonexistent/zstd' });
    expect(zstdEngine()).toBe('node');
  });

  it('engine command without the command is a usage error naming it', () => {
    expect(() => configureZstd({ engine: 'command', command: 'no-such-zstd-here' })).toThrow(/zstd.engine is "command" but no-such-zstd-here was not found on PATH/);
  });

  itZstd('corrupt input fails with the command, its exit and its stderr', async () => {
    configureZstd({ engine: 'command' });
    const frame = await run(sample(), compressionStages('zstd', 3));
    frame[Math.floor(frame.length / 2)] ^= 0xff;
    await expect(run([frame], decompressionStages('zstd'))).rejects.toThrow(/zstd decompression: zstd exited with code 1: .+/);
    await expect(run([randomBytes(1000)], decompressionStages('zstd'))).rejects.toThrow(/zstd decompression: zstd exited with code 1: .*(unknown header|unsupported format)/i);
  });
});

describe('ProcessFilter', () => {
  it('a command that cannot start fails the stream with its name', async () => {
    await expect(run([Buffer.from('x')], [new ProcessFilter('test filter', '/nonexistent/cmd', [])])).rejects.toThrow(/test filter: could not run \/nonexistent\/cmd: .*ENOENT/);
  });

  it('a command killed by a signal fails the stream, even after it printed everything', async () => {
    const f = new ProcessFilter('test filter', 'sh', ['-c', 'cat; kill -9 $$']);
    await expect(run([Buffer.from('hello')], [f])).rejects.toThrow(/test filter: sh was killed by SIGKILL/);
  });

  it('a command that stops reading early fails with its exit code, not with EPIPE', async () => {
    const f = new ProcessFilter('test filter', 'sh', ['-c', 'head -c 10 >/dev/null; echo giving up >&2; exit 3']);
    const big = Array.from({ length: 64 }, () => randomBytes(64 * 1024));
    await expect(run(big, [f])).rejects.toThrow(/test filter: sh exited with code 3: giving up/);
  });

  it('a command that exits 0 without reading all of its input fails the stream instead of hanging it', async () => {
    const f = new ProcessFilter('test filter', 'sh', ['-c', 'head -c 10 >/dev/null; exit 0']);
    const big = Array.from({ length: 64 }, () => randomBytes(64 * 1024));
    await expect(run(big, [f])).rejects.toThrow(/test filter: sh exited without reading all of its input/);
  });

  it('holds back its writer while nobody reads its output (bounded memory), and destroying it kills the command', async () => {
    const f = new ProcessFilter('test filter', 'cat', []);
    let produced = 0;
    const src = new Readable({
      read() {
        produced += 1024 * 1024;
        this.push(Buffer.alloc(1024 * 1024, 1));
      },
    });
    src.pipe(f);
    await new Promise((r) => setTimeout(r, 500));
    // Pipes, cat's buffer and the streams' high-water marks hold a few MiB at most; nothing reads the output.
    expect(produced).toBeLessThan(16 * 1024 * 1024);
    const pid = (f as unknown as { child: { pid: number } }).child.pid;
    f.destroy();
    src.destroy();
    await new Promise((r) => setTimeout(r, 200));
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
