import type { Config, SourceName } from '../config/schema.js';
import type { Artifact, Failure } from '../repository/manifest.js';
import type { Logger } from '../util/log.js';
import type { ArtifactWriter } from '../repository/artifact-writer.js';

export interface SourceContext {
  backupId: string;
  config: Config;
  writer: ArtifactWriter;
  log: Logger;
  signal: AbortSignal;
}

/**
 * What one source produced. A source that cannot run at all throws; one that produced some artifacts
 * and failed others returns the failures alongside (the backup is then PartiallyFailed).
 */
export interface SourceResult {
  artifacts: Artifact[];
  failures: Failure[];
}

export type BackupSource = (ctx: SourceContext) => Promise<SourceResult>;

export type { SourceName };
