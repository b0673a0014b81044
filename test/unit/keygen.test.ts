import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { existsSync } from 'node:fs';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { keygenCommand } from '../../src/commands/keygen.js';
import { UsageError } from '../../src/util/errors.js';
import { tempDir } from '../support/tmp.js';

describe('keygen leaves nothing behind when it refuses', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    dir = await tempDir();
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await dir.cleanup();
  });

  it('an existing --recipient-out: exit 2, no identity file, no directory created for it', async () => {
    const recipientOut = join(dir.path, 'a.pub');
    await writeFile(recipientOut, 'someone else\n');
    const out = join(dir.path, 'new', 'keys', 'a.key');
    const err = await keygenCommand({ out, recipientOut }).then(() => undefined, (e: unknown) => e);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(join(dir.path, 'new'))).toBe(false);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toBe(`${recipientOut} already exists; refusing to overwrite a recipient file`);
    expect(await readFile(recipientOut, 'utf8')).toBe('someone else\n');
  });

  it('a --recipient-out that cannot be created: the error, and no identity file', async () => {
    await writeFile(join(dir.path, 'plainfile'), '');
    const out = join(dir.path, 'b.key');
    await expect(keygenCommand({ out, recipientOut: join(dir.path, 'plainfile', 'b.pub') })).rejects.toThrow(/ENOTDIR|EEXIST/);
    expect(existsSync(out)).toBe(false);
  });

  it('an existing --out: exit 2, and neither file touched nor created', async () => {
    const out = join(dir.path, 'c.key');
    await writeFile(out, 'AGE-SECRET-KEY-1 old\n');
    const recipientOut = join(dir.path, 'c.pub');
    await expect(keygenCommand({ out, recipientOut })).rejects.toThrow(new UsageError(`${out} already exists; refusing to overwrite an identity`));
    expect(await readFile(out, 'utf8')).toBe('AGE-SECRET-KEY-1 old\n');
    expect(existsSync(recipientOut)).toBe(false);
  });

  it('the same file for both: exit 2 before anything is written', async () => {
    const out = join(dir.path, 'd.key');
    await expect(keygenCommand({ out, recipientOut: out })).rejects.toThrow(UsageError);
    expect(existsSync(out)).toBe(false);
  });

  it('writes both when it can: the identity 0600, the recipient beside it', async () => {
    const out = join(dir.path, 'e', 'e.key');
    const recipientOut = join(dir.path, 'e', 'e.pub');
    expect(await keygenCommand({ out, recipientOut })).toBe(0);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    expect(await readFile(out, 'utf8')).toMatch(/^AGE-SECRET-KEY-1/m);
    expect(await readFile(recipientOut, 'utf8')).toMatch(/^age1[0-9a-z]{58}\n$/);
    expect((await readdir(join(dir.path, 'e'))).sort()).toEqual(['e.key', 'e.pub']);
  });
});
