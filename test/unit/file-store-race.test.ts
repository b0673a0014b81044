/**
 * The file store's get() when the object is deleted around the moment it is looked at (another run withdrawing its
 * lock claim between our list and our read). It must say "not found" or return the whole object, never a stream that
 * fails with ENOENT: the lock reads a claim that vanished as an unreadable one and refuses to run (fail closed).
 * Before the fix get() did stat() then createReadStream(path): a delete in between gave exactly that ENOENT
 * (seen as a flaky failure of test/integration/lock.test.ts's concurrent claimants).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

/** The path whose first look (stat or open) deletes it: before the look returns (open) or right after (stat). */
const race = vi.hoisted(() => ({ path: '' }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const vanish = async (p: unknown) => {
    if (race.path && p === race.path) {
      race.path = '';
      await real.unlink(p);
    }
  };
  return {
    ...real,
    stat: async (...args: Parameters<typeof real.stat>) => {
      const r = await real.stat(...args);
      await vanish(args[0]);
      return r;
    },
    open: async (...args: Parameters<typeof real.open>) => {
      await vanish(args[0]);
      return real.open(...args);
    },
  };
});

const { FileStore } = await import('../../src/store/file.js');
const { ObjectNotFoundError } = await import('../../src/store/types.js');
const { readObjectText, writeObjectText } = await import('../../src/store/text.js');

describe('file store: an object deleted while get() looks at it', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gdr-file-race-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is "not found" (or read whole), never an ENOENT read error', async () => {
    const store = new FileStore(dir);
    await writeObjectText(store, 'locks/backup/claim.json', '{"held":true}');
    race.path = join(dir, 'locks', 'backup', 'claim.json');
    const outcome = await readObjectText(store, 'locks/backup/claim.json').then(
      (text) => ({ text }),
      (err: unknown) => ({ err }),
    );
    expect(race.path, 'the race was not provoked').toBe('');
    if ('err' in outcome) expect(outcome.err).toBeInstanceOf(ObjectNotFoundError);
    else expect(outcome.text).toBe('{"held":true}');
  });

  it('an object deleted after get() returned still reads whole (the open file keeps it)', async () => {
    const store = new FileStore(dir);
    await writeObjectText(store, 'd/x.json', 'whole');
    const body = await store.get('d/x.json');
    await store.delete('d/x.json');
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('whole');
  });
});
