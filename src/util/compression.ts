import { constants, createGunzip, createGzip, createZstdCompress, createZstdDecompress } from 'node:zlib';
import { PassThrough, type Duplex } from 'node:stream';
/** How an artifact's plaintext is compressed before encryption (its object key carries the suffix). */
export type Compression = 'zstd' | 'gzip' | 'none';
import { Coalesce } from './coalesce.js';
import { UsageError } from './errors.js';
import { findExecutable } from './executables.js';
import { ProcessFilter } from './process-filter.js';

/**
 * zlib's 16 KiB default output chunk costs one thread-pool round trip per 16 KiB: 64 KiB made a pg_dump stream
 * through the artifact writer ~15 % faster. 256 KiB was a little faster still but cost ~10 MiB more peak RSS.
 */
const CHUNK = 64 * 1024;
/** Decompression: 256 KiB output chunks decompressed a pg_dump stream 1.5× faster than 64 KiB ones. */
const DECOMPRESS_CHUNK = 256 * 1024;

/**
 * Who runs zstd. `command`: the zstd CLI as a child process; `node`: Node's built-in zlib zstd; `auto`: the CLI
 * when it is on PATH, else Node's. Both write standard zstd frames with a content checksum, so either reads
 * what the other wrote. On a 531 MiB pg_dump the CLI took 2.5 s of CPU at level 3 where Node's zlib took 5.0 s
 * (the same library, built differently), and decompressed in 0.7 s against 1.7 s.
 */
export type ZstdEngine = 'auto' | 'command' | 'node';

let engine: ZstdEngine = 'auto';
let command = 'zstd';
let resolved: 'command' | 'node' | undefined;

/** Sets this process's engine (from the config's `zstd`); with `command`, the command must be there. */
export function configureZstd(opts: { engine?: ZstdEngine; command?: string }): void {
  const cmd = opts.command ?? 'zstd';
  if (opts.engine === 'command' && findExecutable(cmd) === undefined) {
    throw new UsageError(`zstd.engine is "command" but ${cmd} was not found${cmd.includes('/') ? '' : ' on PATH'}: install zstd or set zstd.engine to auto or node`);
  }
  engine = opts.engine ?? 'auto';
  command = cmd;
  resolved = undefined;
}

/** The engine this process uses, `auto` resolved (once) by looking for the command on PATH. */
export function zstdEngine(): 'command' | 'node' {
  if (engine !== 'auto') return engine;
  resolved ??= findExecutable(command) !== undefined ? 'command' : 'node';
  return resolved;
}

/** The zstd command to run, when this process compresses with the CLI (engine `command`, or `auto` with it on PATH). */
export function zstdCommand(): string | undefined {
  return zstdEngine() === 'command' ? command : undefined;
}

/**
 * The stages that compress a stream, for a pipeline. Node's zlib streams get 1 MiB input chunks first (see
 * Coalesce); the zstd command reads its pipe in whatever pieces come.
 */
export function compressionStages(kind: Compression, level = 3): Duplex[] {
  switch (kind) {
    case 'zstd':
      if (zstdEngine() === 'command') return [new ProcessFilter('zstd compression', command, ['-q', '-c', '--no-progress', `-${level}`])];
      return [new Coalesce(), createZstdCompress({ chunkSize: CHUNK, params: { [constants.ZSTD_c_compressionLevel]: level, [constants.ZSTD_c_checksumFlag]: 1 } })];
    case 'gzip':
      return [new Coalesce(), createGzip({ level: Math.min(level, 9) })];
    case 'none':
      return [new PassThrough()];
  }
}

export function decompressionStages(kind: Compression): Duplex[] {
  switch (kind) {
    case 'zstd':
      if (zstdEngine() === 'command') return [new ProcessFilter('zstd decompression', command, ['-d', '-q', '-c', '--no-progress'])];
      return [new Coalesce(), createZstdDecompress({ chunkSize: DECOMPRESS_CHUNK })];
    case 'gzip':
      return [new Coalesce(), createGunzip()];
    case 'none':
      return [new PassThrough()];
  }
}
