import { buildConfigSchema, type Config, type SourceName } from '../config/schema.js';
import { formatIssues, loadConfigWith, parseConfigWith } from '../config/load.js';
import { ARTIFACT_FILE_PATTERN } from '../repository/layout.js';
import type { Manifest } from '../repository/manifest.js';
import { OperationError } from '../util/errors.js';
import { kubeSource } from './kube/index.js';
import { postgresSource } from './postgres/index.js';
import { redisSource } from './redis/index.js';
import type { Source } from './source.js';

/**
 * Every source gushen-dr knows, in restore order. The one place the list is written: the config schema, the
 * `--only` choices, the manifest's source names and artifact-name pattern, the restore flags and the engine's
 * loops all come from here.
 */
export const SOURCES: readonly Source<any, any>[] = [kubeSource, postgresSource, redisSource].sort((a, b) => a.restoreOrder - b.restoreOrder);

/** The compiler's check that SOURCES and the config's SourceConfigs name the same sources. */
type Listed = (typeof kubeSource | typeof postgresSource | typeof redisSource)['name'];
const _everyConfiguredSourceListed: [Exclude<SourceName, Listed>] extends [never] ? true : never = true;
void _everyConfiguredSourceListed;

export const SOURCE_NAMES: readonly SourceName[] = SOURCES.map((s) => s.name);

/** The config file's schema: the base settings and every source's own section. */
export const configSchema = buildConfigSchema(Object.fromEntries(SOURCES.map((s) => [s.name, s.configSchema])));

/** Reads and checks a config file (`--config`) against every source's schema. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  return loadConfigWith(configSchema, file, env);
}

/** Parses config YAML text (tests, the CronJobs' rendered config) against every source's schema. */
export function parseConfig(text: string, env: NodeJS.ProcessEnv = process.env, where = 'config'): Config {
  return parseConfigWith(configSchema, text, env, where);
}

/** Artifact names: `<source>/<file>` for a known source. */
export const artifactNamePattern = new RegExp(`^(${SOURCE_NAMES.join('|')})\\/${ARTIFACT_FILE_PATTERN}$`);

export function sourceNamed(name: string, sources: readonly Source<any, any>[] = SOURCES): Source<any, any> | undefined {
  return sources.find((s) => s.name === name);
}

/**
 * Checks what the repository leaves to the sources before a manifest's artifacts are used: each artifact belongs
 * to a known source, is of one of its kinds, is named `<source>/...`, and its facts pass the source's schema.
 * An OperationError names the backup, the artifact and what is wrong.
 */
export function checkManifestSources(manifest: Manifest, sources: readonly Source<any, any>[] = SOURCES): void {
  for (const a of manifest.artifacts) {
    const source = sourceNamed(a.source, sources);
    if (!source) {
      throw new OperationError(
        `backup ${manifest.id}: artifact ${a.name} belongs to source "${a.source}", which this gushen-dr does not know (it knows ${sources.map((s) => s.name).join(', ')}); use a gushen-dr that does`,
      );
    }
    if (!a.name.startsWith(`${source.name}/`)) throw new OperationError(`backup ${manifest.id}: artifact ${a.name} is not named ${source.name}/…`);
    if (!source.artifactKinds.includes(a.kind)) {
      throw new OperationError(`backup ${manifest.id}: artifact ${a.name} has kind "${a.kind}", not one of ${source.name}'s (${source.artifactKinds.join(', ')})`);
    }
    const facts = source.factsSchema.safeParse(a.facts, { reportInput: true });
    if (!facts.success) throw new OperationError(`backup ${manifest.id}: artifact ${a.name} facts: ${formatIssues(facts.error.issues)}`);
  }
}
