// The stream-to-store measurement, run by bench/run.ts as production runs: the built code (dist/), plain Node
// with bin/gushen-dr.js's flags, no TypeScript loader. Streams --mib MiB of dump-like data (every MiB: half fresh
// random bytes, half repetitive text; about 55 % stored) through the artifact writer (SHA-256, zstd, age) into
// the store given as JSON; prints one JSON line with throughput and this process's peak RSS.
//   node <flags> bench/stream-child.mjs --store '{"url":"file:///tmp/x"}' --mib 2048 --recipient age1...
import { Buffer } from 'node:buffer';
import { randomFillSync } from 'node:crypto';
import { Readable } from 'node:stream';

const arg = (name) => {
  const i = process.argv.indexOf(name);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`bench/stream-child.mjs: ${name} is required`);
  return process.argv[i + 1];
};
const { storeSchema } = await import('../dist/config/schema.js');
const { openStore } = await import('../dist/store/open.js');
const { ArtifactWriter } = await import('../dist/repository/artifact-writer.js');

const MiB = 1024 * 1024;
const mib = Number(arg('--mib'));
const store = openStore(storeSchema.parse(JSON.parse(arg('--store'))));
const text = Buffer.from('2026-11-24 09:30:00+08|600519.SH|B|100|1688.000000|filled|{"client":"web","strategy":7}\n'.repeat(8192)).subarray(0, MiB / 2);
let left = mib;
const input = new Readable({
  read() {
    if (left-- <= 0) return void this.push(null);
    const b = Buffer.allocUnsafe(MiB);
    randomFillSync(b, 0, MiB / 2);
    text.copy(b, MiB / 2);
    this.push(b);
  },
});
const writer = new ArtifactWriter(store, '20260101T000000Z-manual', [arg('--recipient')]);
const t0 = process.hrtime.bigint();
const a = await writer.write({ name: 'postgres/bench.dump', source: 'postgres', kind: 'pg_dump-custom', compression: 'zstd', compressionLevel: 3 }, input);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
await store.close?.();
process.stdout.write(
  `${JSON.stringify({ mib, storedMiB: a.stored.size / MiB, mbps: (mib * MiB) / 1e6 / seconds, peakRssMiB: process.resourceUsage().maxRSS / 1024 })}\n`,
);
