import type { Identity } from '../crypto/index.js';
import type { Config } from '../config/schema.js';
import type { Manifest } from '../repository/manifest.js';
import type { ObjectStore } from '../store/types.js';
import type { Logger } from '../util/log.js';

export interface RestoreContext {
  store: ObjectStore;
  manifest: Manifest;
  identities: Identity[];
  config: Config;
  log: Logger;
  /** Where plaintext is staged while restoring (removed afterwards); default the OS temp dir. */
  scratchDir?: string;
  signal?: AbortSignal;
}

/** One line of a restore's outcome, printed in its summary. */
export interface RestoreItemResult {
  item: string;
  result: 'created' | 'skipped' | 'updated' | 'failed' | 'restored' | 'would-create' | 'would-update' | 'would-skip' | 'would-restore';
  detail?: string;
}
