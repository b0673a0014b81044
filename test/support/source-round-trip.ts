import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateX25519Identity, formatIdentityFile, type Identity } from '../../src/crypto/index.js';
import { buildConfigSchema, type Config } from '../../src/config/schema.js';
import { loadIdentities } from '../../src/config/keys.js';
import { runBackup } from '../../src/engine/backup.js';
import { runRestore, type RestoreRunReport } from '../../src/engine/restore.js';
import { verifyBackup } from '../../src/engine/verify.js';
import type { Artifact, Manifest } from '../../src/repository/manifest.js';
import { SOURCES } from '../../src/sources/registry.js';
import type { RestoreContext } from '../../src/sources/restore-context.js';
import type { Source } from '../../src/sources/source.js';
import { openStore } from '../../src/store/open.js';
import type { ObjectStore } from '../../src/store/types.js';
import { silentLogger } from '../../src/util/log.js';
import { tempDir } from './tmp.js';

/**
 * What the round-trip suite needs to know about one source: how to start something holding data to back up,
 * and how to make the empty targets its restore goes into. A new source needs nothing but one of these.
 */
export interface RoundTripFixture {
  /** The source under test; added to the registry for the test when gushen-dr does not list it. */
  source: Source<any, any>;
  /** Starts what the backup reads (a server with a dataset, a cluster, a directory): its `sources.<name>` section. */
  configure(env: RoundTripEnv): Promise<{ section: unknown; teardown(): Promise<void> }>;
  /** One empty target per way the source restores (Redis: online into a server, offline into a data directory). */
  targets: Record<string, (env: RoundTripEnv) => Promise<EmptyTarget>>;
  /** The artifact to tamper with (default: the source's largest, which every restore reads). */
  tampered?(manifest: Manifest): Artifact;
}

/** Where a fixture may put files (removed after the suite), and a name unique to the call. */
export interface RoundTripEnv {
  dir: string;
  unique(prefix: string): string;
}

export interface EmptyTarget<Data = unknown> {
  /** The source's restore options, as `runRestore` takes them under the source's name. */
  options: unknown;
  /** The data in the target, read with the test's own client or query (not the source's restore code). */
  readBack(): Promise<Data>;
  /** What readBack must give after the restore: the manifest's facts, less what the restore left out with a reason. */
  expected(r: { manifest: Manifest; report: RestoreRunReport; ctx: RestoreContext }): Data | Promise<Data>;
  teardown(): Promise<void>;
}

/**
 * The behaviour every source must have, end to end through the engine, as one suite each source runs
 * (`sourceRoundTrip(postgresFixture)`), like storeConformance for the store drivers: a backup with only that
 * source configured is Completed with every artifact verified, verifies and deep-verifies, and restores into
 * an empty target where the data read back equals the manifest's facts; a byte flipped in a stored artifact
 * fails the verify, and the restore refuses it before the target changes.
 */
/**
 * A config for `registry` (parsed by the schema that registry derives, as the real one is) in `dir`: a new age key,
 * a file store at dir/store, a scratch directory, and the given source sections.
 */
export async function registryConfig(registry: ReadonlyArray<Source<any, any>>, dir: string, sources: Record<string, unknown>): Promise<Config> {
  const { identity, recipient } = generateX25519Identity();
  const identityFile = join(dir, 'id.key');
  await writeFile(identityFile, formatIdentityFile(identity, recipient, new Date()), { mode: 0o600 });
  const schema = buildConfigSchema(Object.fromEntries(registry.map((s) => [s.name, s.configSchema])));
  const config = schema.parse({
    store: { url: `file://${join(dir, 'store')}` },
    encryption: { recipients: [recipient], identityFile },
    sources,
    scratchDir: join(dir, 'scratch'),
  }) as Config;
  await mkdir(config.scratchDir!);
  return config;
}

export function sourceRoundTrip(fixture: RoundTripFixture): void {
  const { source } = fixture;
  const name = source.name;
  const registry = SOURCES.some((s) => s.name === name) ? SOURCES : [...SOURCES, source];

  describe(`${name} round trip: backup → verify → restore into an empty target`, () => {
    let dir: { path: string; cleanup: () => Promise<void> };
    let env: RoundTripEnv;
    let config: Config;
    let store: ObjectStore;
    let identities: Identity[];
    let manifest: Manifest;
    const teardowns: Array<() => Promise<void>> = [];
    let counter = 0;

    beforeAll(async () => {
      dir = await tempDir(`gushen-dr-round-trip-${name}-`);
      env = { dir: dir.path, unique: (prefix) => `${prefix}${++counter}` };
      const configured = await fixture.configure(env);
      teardowns.push(configured.teardown);
      config = await registryConfig(registry, dir.path, { [name]: configured.section });
      store = openStore(config.store);
      identities = await loadIdentities(config);
      manifest = await runBackup({ config, store, schedule: 'manual', log: silentLogger, registry });
    });
    afterAll(async () => {
      for (const t of teardowns.reverse()) await t().catch(() => undefined);
      await dir?.cleanup();
    });

    const restoreContext = (): RestoreContext => ({ store, manifest, identities, config, log: silentLogger });
    const restore = (options: unknown, from: ObjectStore = store) =>
      runRestore({ store: from, manifest, identities, config, log: silentLogger, registry, ...({ [name]: options } as object) });

    it('backs up Completed, every artifact read back and verified', () => {
      expect(manifest.failures).toEqual([]);
      expect(manifest.status).toBe('Completed');
      expect(manifest.sources).toEqual([name]);
      expect(manifest.artifacts.length).toBeGreaterThan(0);
      for (const a of manifest.artifacts) {
        expect(a.source, a.name).toBe(name);
        expect(a.verifiedAt, a.name).toBeDefined();
      }
    });

    it('verifies: every artifact present with its size and SHA-256', async () => {
      const results = await verifyBackup({ store, manifest, config, log: silentLogger, registry });
      expect(results.map((r) => [r.artifact, r.ok, r.error])).toEqual(manifest.artifacts.map((a) => [a.name, true, undefined]));
    });

    it("verifies deep: every artifact decrypted and checked by the source's own check", async () => {
      const results = await verifyBackup({ store, manifest, config, log: silentLogger, registry, deep: { identities } });
      expect(results.map((r) => [r.artifact, r.ok, r.error])).toEqual(manifest.artifacts.map((a) => [a.name, true, undefined]));
      // A dump compressed by the zstd CLI straight from pg_dump has no plaintext SHA-256 (format version 2): its zstd checksums stand in.
      for (const r of results) expect(r.checks.join('; '), r.artifact).toMatch(/decrypted, (plaintext SHA-256|zstd checksums and plaintext size), source check/);
    });

    for (const [targetName, makeTarget] of Object.entries(fixture.targets)) {
      describe(`into ${targetName}`, () => {
        let target: EmptyTarget;
        let empty: unknown;

        beforeAll(async () => {
          target = await makeTarget(env);
          teardowns.push(() => target.teardown());
          empty = await target.readBack();
        });

        it('refuses an artifact with one byte flipped in the store: verify fails, the restore throws before the target changes', async () => {
          const victim = fixture.tampered?.(manifest) ?? [...manifest.artifacts].sort((a, b) => b.size - a.size)[0];
          const tampered = await tamperedCopy(dir.path, env.unique('tampered-store-'), config, victim);
          const results = await verifyBackup({ store: tampered, manifest, config, log: silentLogger, registry });
          expect(results.filter((r) => !r.ok).map((r) => r.artifact)).toEqual([victim.name]);
          expect(results.find((r) => !r.ok)?.error).toMatch(/SHA-256|size/);
          const outcome = await restore(target.options, tampered).then(
            (report) => report,
            (err: unknown) => err,
          );
          expect(outcome, 'runRestore of a tampered artifact').toBeInstanceOf(Error);
          expect(await target.readBack()).toEqual(empty);
        });

        it("restores: the data read back from the target equals the manifest's facts", async () => {
          const report = await restore(target.options);
          expect(report.items.filter((i) => i.result === 'failed')).toEqual([]);
          expect(report.failed).toBe(0);
          const expected = await target.expected({ manifest, report, ctx: restoreContext() });
          expect(expected, 'the backup holds data').not.toEqual(empty);
          expect(await target.readBack()).toEqual(expected);
        });
      });
    }
  });
}

/** A copy of the store where one byte in the middle of `victim`'s stored object is flipped. */
async function tamperedCopy(dir: string, name: string, config: Config, victim: Artifact): Promise<ObjectStore> {
  const url = config.store.url;
  if (!url.startsWith('file://')) throw new Error(`the round-trip suite tampers with file:// stores only, not ${url}`);
  const copy = join(dir, name);
  await cp(decodeURIComponent(url.slice('file://'.length)), copy, { recursive: true });
  const file = join(copy, victim.key);
  const bytes = await readFile(file);
  bytes[Math.floor(bytes.length / 2)] ^= 0x01;
  await writeFile(file, bytes);
  return openStore({ ...config.store, url: `file://${copy}` });
}
