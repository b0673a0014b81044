/**
 * Throughput benchmark for src/crypto (streaming age) vs the pure-JS
 * `age-encryption` package.
 *
 *   npx tsx bench/crypto.ts [--mib N] [--pure-js-mib N] [--json]
 *
 * Input is one 1 MiB random block repeated, so data generation is not measured.
 * Decryption repeatedly decrypts one in-memory ciphertext of min(N, 16) MiB
 * (fed in 1 MiB pieces), so memory stays constant regardless of N. peakRssMiB
 * is the process's maxRSS right after our encrypt + decrypt runs (before the
 * pure-JS comparison); the tsx/node baseline alone is about 80-95 MiB.
 */
import { randomBytes } from 'node:crypto';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { Encrypter, generateX25519Identity as pureJsGenerateIdentity, identityToRecipient } from 'age-encryption';
import { createDecryptStream, createEncryptStream, generateX25519Identity, parseIdentity } from '../src/crypto/index.js';
import { bestOf } from './stats.js';

export interface CryptoBenchOptions {
  /** MiB of plaintext for our encrypt/decrypt runs (default 512). */
  mib?: number;
  /** MiB of plaintext for the (slow) pure-JS run (default min(mib, 64)). */
  pureJsMib?: number;
  /** Progress/result lines; default console.log. Pass () => {} for silence. */
  log?: (line: string) => void;
}

export interface CryptoBenchResult {
  ours: { encMiBps: number; decMiBps: number };
  pureJs: { encMiBps: number };
  /** ours.encMiBps / pureJs.encMiBps */
  ratio: number;
  peakRssMiB: number;
}

const MiB = 1024 * 1024;

function repeatedSource(block: Buffer, mib: number): Readable {
  let left = mib;
  return new Readable({
    highWaterMark: 4 * MiB,
    read() {
      this.push(left-- > 0 ? block : null);
    },
  });
}

function countingSink(): Writable & { bytes: number } {
  const sink = new Writable({
    highWaterMark: 4 * MiB,
    write(chunk: Buffer, _enc, cb) {
      sink.bytes += chunk.length;
      cb();
    },
    writev(chunks, cb) {
      for (const c of chunks) sink.bytes += (c.chunk as Buffer).length;
      cb();
    },
  }) as Writable & { bytes: number };
  sink.bytes = 0;
  return sink;
}

/** The fastest of three timed runs: the machine's noise only ever adds time, to ours and the pure-JS package alike. */
async function bestTime(fn: () => Promise<void>): Promise<number> {
  return (await bestOf(3, async () => ({ seconds: await timed(fn) }))).seconds;
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function maxRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB
}

async function oursEncrypt(block: Buffer, mib: number, recipient: string, out: Writable): Promise<void> {
  const enc: Transform = createEncryptStream([recipient]);
  await pipeline(repeatedSource(block, mib), enc, out);
}

async function pureJsEncrypt(block: Buffer, mib: number): Promise<number> {
  const e = new Encrypter();
  e.addRecipient(await identityToRecipient(await pureJsGenerateIdentity()));
  let left = mib;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (left-- > 0) controller.enqueue(new Uint8Array(block.buffer, block.byteOffset, block.byteLength));
      else controller.close();
    },
  });
  const out = await e.encrypt(source);
  const reader = out.getReader();
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.length;
  }
  return bytes;
}

export async function runCryptoBench(opts: CryptoBenchOptions = {}): Promise<CryptoBenchResult> {
  const mib = opts.mib ?? 512;
  const pureJsMib = opts.pureJsMib ?? Math.min(mib, 64);
  const log = opts.log ?? ((line: string) => console.log(line));
  const block = randomBytes(MiB);
  const { identity, recipient } = generateX25519Identity();
  const ids = [parseIdentity(identity)];
  {
    // Warm-up (JIT, allocator) outside the measurement.
    await oursEncrypt(block, 16, recipient, countingSink());

    let sink = countingSink();
    const encSec = await bestTime(() => {
      sink = countingSink();
      return oursEncrypt(block, mib, recipient, sink);
    });
    const encMiBps = mib / encSec;
    log(`ours    encrypt ${mib} MiB: ${encMiBps.toFixed(0)} MiB/s (${encSec.toFixed(2)} s, ${sink.bytes} bytes out)`);

    // Decrypt: one ciphertext of up to 16 MiB, held in memory as 1 MiB pieces,
    // decrypted by fresh streams until `mib` MiB of plaintext have been produced.
    const ctMib = Math.min(mib, 16);
    const pieces: Buffer[] = [];
    let cur = Buffer.allocUnsafe(MiB);
    let curLen = 0;
    await oursEncrypt(block, ctMib, recipient, new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (let off = 0; off < chunk.length; ) {
          const n = chunk.copy(cur, curLen, off);
          curLen += n;
          off += n;
          if (curLen === MiB) {
            pieces.push(cur);
            cur = Buffer.allocUnsafe(MiB);
            curLen = 0;
          }
        }
        cb();
      },
    }));
    if (curLen > 0) pieces.push(cur.subarray(0, curLen));
    const rounds = Math.ceil(mib / ctMib);
    let plainBytes = 0;
    const decSec = await bestTime(async () => {
      plainBytes = 0;
      for (let i = 0; i < rounds; i++) {
        const plain = countingSink();
        await pipeline(Readable.from(pieces, { objectMode: false }), createDecryptStream(ids), plain);
        plainBytes += plain.bytes;
      }
    });
    if (plainBytes !== rounds * ctMib * MiB) throw new Error(`decrypted ${plainBytes} bytes, expected ${rounds * ctMib * MiB}`);
    const decMiBps = plainBytes / MiB / decSec;
    log(`ours    decrypt ${plainBytes / MiB} MiB: ${decMiBps.toFixed(0)} MiB/s (${decSec.toFixed(2)} s, ${rounds} x ${ctMib} MiB in-memory ciphertext)`);
    const peakRssMiB = maxRssMiB();
    log(`peak RSS after our runs: ${peakRssMiB.toFixed(0)} MiB`);

    let pureBytes = 0;
    const pureSec = await bestTime(async () => {
      pureBytes = await pureJsEncrypt(block, pureJsMib);
    });
    const pureEnc = pureJsMib / pureSec;
    log(`age-encryption (pure JS, web streams) encrypt ${pureJsMib} MiB: ${pureEnc.toFixed(0)} MiB/s (${pureSec.toFixed(2)} s, ${pureBytes} bytes out)`);
    const ratio = encMiBps / pureEnc;
    log(`ratio ours/pure-JS (encrypt): ${ratio.toFixed(1)}x; peak RSS overall: ${maxRssMiB().toFixed(0)} MiB`);
    return { ours: { encMiBps, decMiBps }, pureJs: { encMiBps: pureEnc }, ratio, peakRssMiB };
  }
}

function argValue(args: string[], name: string): number | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} expects a positive integer`);
  return v;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  runCryptoBench({
    mib: argValue(args, '--mib'),
    pureJsMib: argValue(args, '--pure-js-mib'),
    log: json ? () => undefined : undefined,
  }).then(
    (r) => {
      if (json) console.log(JSON.stringify(r));
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
