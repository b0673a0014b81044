import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonFile, packTar } from '../../src/sources/kube/tar-writer.js';
import { readTarFiles } from '../../src/sources/kube/tar-reader.js';
import { tempDir } from '../support/tmp.js';

const run = promisify(execFile);
const LONG = `resources/customresourcedefinitions.apiextensions.k8s.io/cluster/${'a'.repeat(80)}.example.com.json`;

describe('kube tar writer and reader', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(async () => dir?.cleanup());

  const files = () => [
    jsonFile('index.json', { entries: 2 }),
    jsonFile('resources/configmaps/namespaces/ai-qtrd/ai-qtrd-config.json', { kind: 'ConfigMap', data: { A: 'ü' } }),
    jsonFile(LONG, { kind: 'CustomResourceDefinition' }),
    { path: 'resources/secrets/namespaces/ai-qtrd/big.json', data: Buffer.alloc(200_000, 0x61) },
  ];

  it('round-trips in-memory files, long paths included', async () => {
    const got = await readTarFiles(packTar(files(), new Date('2026-11-24T02:00:00Z')));
    expect([...got.keys()]).toEqual(files().map((f) => f.path));
    for (const f of files()) expect(got.get(f.path)?.equals(f.data)).toBe(true);
  });

  it('writes a tar that GNU tar reads, with mode 0600 entries', async () => {
    const hasTar = await access('/usr/bin/tar').then(() => true, () => false);
    if (!hasTar) {
      console.warn('skipping: /usr/bin/tar is not installed');
      return;
    }
    const file = join(dir.path, 'x.tar');
    await pipeline(packTar(files(), new Date('2026-11-24T02:00:00Z')), createWriteStream(file));
    const { stdout } = await run('/usr/bin/tar', ['-tvf', file]);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines.every((l) => l.startsWith('-rw-------'))).toBe(true);
    expect(stdout).toContain(LONG);
    await run('/usr/bin/tar', ['-xf', file, '-C', dir.path]);
    expect(JSON.parse(await readFile(join(dir.path, 'resources/configmaps/namespaces/ai-qtrd/ai-qtrd-config.json'), 'utf8'))).toEqual({ kind: 'ConfigMap', data: { A: 'ü' } });
  });

  it('rejects a truncated tar', async () => {
    const chunks: Buffer[] = [];
    for await (const c of packTar(files(), new Date())) chunks.push(c as Buffer);
    const whole = Buffer.concat(chunks);
    await expect(readTarFiles(Readable.from([whole.subarray(0, 100_000)]))).rejects.toThrow(/truncat|bad archive|unexpected end/i);
  });

  it('rejects entries that escape and duplicates', async () => {
    await expect(readTarFiles(packTar([jsonFile('../evil.json', {})], new Date()))).rejects.toThrow(/escapes/);
    await expect(readTarFiles(packTar([jsonFile('a.json', {}), jsonFile('a.json', {})], new Date()))).rejects.toThrow(/twice/);
  });

  it('rejects an entry above the size limit', async () => {
    await expect(readTarFiles(packTar(files(), new Date()), 100_000)).rejects.toThrow(/larger than 100000/);
  });
});
