import type { SourceName } from '../config/schema.js';
import type { BackupSource } from './source.js';
import { backupKube } from './kube.js';
import { backupPostgres } from './postgres.js';
import { backupRedis } from './redis.js';

export const BACKUP_SOURCES: Record<SourceName, BackupSource> = {
  kube: backupKube,
  postgres: backupPostgres,
  redis: backupRedis,
};
