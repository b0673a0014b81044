import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { z } from 'zod';
import type { SourceName } from '../../src/config/schema.js';
import { openArtifact } from '../../src/repository/artifact-reader.js';
import { withFacts } from '../../src/repository/artifact-writer.js';
import type { Artifact } from '../../src/repository/manifest.js';
import type { RestoreContext } from '../../src/sources/restore-context.js';
import type { Source } from '../../src/sources/source.js';
import { UsageError } from '../../src/util/errors.js';

/**
 * A fourth source that exists only in tests: the files of one directory (`sources.notes.dir`), stored as one JSON
 * artifact. It implements every member of the Source interface with nothing but the interface, so a test can
 * register it and see the engine back it up, verify, restore and drill it with no change to the engine.
 */
const notesConfigSchema = z.strictObject({ dir: z.string().min(1) });
const notesFactsSchema = z.strictObject({ type: z.literal('notes'), files: z.number().int().nonnegative(), sha256: z.string() });
type NotesFacts = z.infer<typeof notesFactsSchema>;
type Notes = Record<string, string>;
export interface NotesRestoreOptions {
  targetDir?: string;
  dryRun?: boolean;
}

async function readNotes(dir: string): Promise<Notes> {
  const out: Notes = {};
  for (const f of (await readdir(dir)).sort()) out[f] = await readFile(join(dir, f), 'utf8');
  return out;
}

const digest = (n: Notes) => createHash('sha256').update(JSON.stringify(n)).digest('hex');

async function readArtifact(ctx: RestoreContext, a: Artifact): Promise<Notes> {
  const chunks: Buffer[] = [];
  for await (const c of await openArtifact(ctx.store, a, ctx.identities)) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Notes;
}

const notesOf = (m: { artifacts: Artifact[] }) => m.artifacts.filter((a) => (a.source as string) === 'notes');
const factsOf = (a: Artifact) => a.facts as unknown as NotesFacts;

export const notesSource: Source<NotesRestoreOptions, { files: number }> = {
  name: 'notes' as SourceName,
  title: 'Notes (test source)',
  configSchema: notesConfigSchema,
  factsSchema: notesFactsSchema,
  artifactKinds: ['notes-json'],
  restoreOrder: 40,
  backup: async (ctx) => {
    const cfg = (ctx.config.sources as Record<string, { dir: string }>).notes;
    const notes = await readNotes(cfg.dir);
    const written = await ctx.writer.write(
      { name: 'notes/files.json', source: 'notes' as SourceName, kind: 'notes-json', compression: 'zstd' },
      Readable.from([Buffer.from(JSON.stringify(notes))]),
      ctx.signal,
    );
    const facts = { type: 'notes', files: Object.keys(notes).length, sha256: digest(notes) };
    return { artifacts: [withFacts(written, facts as never)], failures: [] };
  },
  deepVerify: async (ctx, a) => {
    const notes = await readArtifact(ctx, a);
    if (digest(notes) !== factsOf(a).sha256) throw new Error(`${a.name}: contents differ from the manifest`);
  },
  restoreFlags: [{ flags: '--notes-dir <dir>', description: 'directory to restore the notes into' }],
  restoreOptions: (f, common) => ({ targetDir: f.notesDir as string | undefined, dryRun: common.dryRun }),
  checkRestoreOptions: (_m, o) => {
    if (!o.targetDir) throw new UsageError('restoring notes needs --notes-dir DIR');
  },
  artifactsToCheckFirst: (m, _o, first) => (first ? [] : notesOf(m)),
  restore: async (ctx, o) => {
    const [a] = notesOf(ctx.manifest);
    const notes = await readArtifact(ctx, a);
    if (!o.dryRun) {
      await mkdir(o.targetDir!, { recursive: true });
      for (const [f, text] of Object.entries(notes)) await writeFile(join(o.targetDir!, f), text);
    }
    const files = Object.keys(notes).length;
    return { items: [{ item: `notes → ${o.targetDir}`, result: o.dryRun ? 'would-restore' : 'restored', detail: `${files} files` }], report: { files } };
  },
  drill: {
    prepare: async (ctx) => {
      const [a] = ctx.artifacts;
      const dir = join(ctx.restore.scratchDir!, `notes-${ctx.stamp}`);
      ctx.cleanup(`notes directory ${dir}`, async () => {
        const { rm } = await import('node:fs/promises');
        await rm(dir, { recursive: true, force: true });
      });
      return {
        vars: { notesDir: dir },
        scratch: {},
        describe: `notes into ${dir}`,
        restore: async () => {
          await ctx.phase('notes', () => notesSource.restore(ctx.restore, { targetDir: dir }), (r) => `${r.report.files} files`);
        },
        checks: async () => {
          const restored = await readNotes(dir);
          return [{ kind: 'notes', name: 'notes files', ok: digest(restored) === factsOf(a).sha256, expected: factsOf(a).files, actual: Object.keys(restored).length }];
        },
      };
    },
  },
};
