/**
 * Streams N MiB (default 2048) through the real artifact writer (SHA-256 → zstd → age → store) into a
 * file:// store and into s3rver, and reports MB/s and the process's peak RSS for each. Each store runs in a
 * child process of its own so peak RSS is measured per store, not accumulated.
 *
 *   npx tsx bench/store.ts [--mib N] [--json]
 */
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { generateX25519Identity } from '../src/crypto/index.js';
import { ArtifactWriter } from '../src/repository/artifact-writer.js';
import { FileStore } from '../src/store/file.js';
import { openStore } from '../src/store/open.js';
import type { ObjectStore } from '../src/store/types.js';
import { startS3, useS3rverCredentials } from '../test/support/s3.js';
import { tempDir } from '../test/support/tmp.js';

const MiB = 1024 * 1024;

export interface StoreBenchResult {
  mib: number;
  file: { mbps: number; peakRssMiB: number };
  s3: { mbps: number; peakRssMiB: number };
}

/** Semi-compressible input (half random, half repeated), so zstd does real work: 1 MiB blocks, never held whole. */
function input(mib: number): Readable {
  const block = Buffer.concat([randomBytes(MiB / 2), Buffer.alloc(MiB / 2, 'gushen')]);
  let left = mib;
  return new Readable({
    read() {
      this.push(left-- > 0 ? block : null);
    },
  });
}

async function runOne(kind: 'file' | 's3', mib: number): Promise<{ mbps: number; peakRssMiB: number }> {
  const dir = await tempDir('gushen-dr-bench-store-');
  const s3 = kind === 's3' ? await startS3() : undefined;
  try {
    let store: ObjectStore;
    if (s3) {
      useS3rverCredentials();
      const cfg = s3.storeConfig('bench');
      store = openStore({ ...cfg, s3: { ...cfg.s3, partSizeMiB: 64 } });
    } else {
      store = new FileStore(dir.path);
    }
    const { recipient } = generateX25519Identity();
    const writer = new ArtifactWriter(store, '20260101T000000Z-manual', [recipient]);
    const t0 = process.hrtime.bigint();
    await writer.write({ name: 'postgres/bench.dump', source: 'postgres', kind: 'pg_dump-custom', compression: 'zstd', compressionLevel: 3 }, input(mib));
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    return { mbps: (mib * MiB) / 1e6 / secs, peakRssMiB: process.resourceUsage().maxRSS / 1024 };
  } finally {
    await s3?.stop();
    await dir.cleanup();
  }
}

function child(kind: 'file' | 's3', mib: number): Promise<{ mbps: number; peakRssMiB: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', kind, '--mib', String(mib)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1)!)) : reject(new Error(`store bench child (${kind}) exited ${code}`))));
  });
}

export async function runStoreBench(opts: { mib?: number } = {}): Promise<StoreBenchResult> {
  const mib = opts.mib ?? 2048;
  return { mib, file: await child('file', mib), s3: await child('s3', mib) };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const mib = Number(arg('--mib') ?? 2048);
  const kind = arg('--child') as 'file' | 's3' | undefined;
  if (kind) {
    runOne(kind, mib).then((r) => console.log(JSON.stringify(r)));
  } else {
    runStoreBench({ mib }).then((r) => {
      if (process.argv.includes('--json')) console.log(JSON.stringify(r));
      else {
        console.log(`file:// ${r.mib} MiB: ${r.file.mbps.toFixed(0)} MB/s, peak RSS ${r.file.peakRssMiB.toFixed(0)} MiB`);
        console.log(`s3://   ${r.mib} MiB: ${r.s3.mbps.toFixed(0)} MB/s, peak RSS ${r.s3.peakRssMiB.toFixed(0)} MiB`);
      }
    });
  }
}
