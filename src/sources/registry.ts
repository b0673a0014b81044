import type { SourceName } from '../config/schema.js';
import type { BackupSource } from './source.js';

// Loaded on use: the Kubernetes client alone costs ~80 MiB of memory, which a PostgreSQL-only run should not pay.
export const BACKUP_SOURCES: Record<SourceName, BackupSource> = {
  kube: async (ctx) => (await import('./kube/backup.js')).backupKube(ctx),
  postgres: async (ctx) => (await import('./postgres/backup.js')).backupPostgres(ctx),
  redis: async (ctx) => (await import('./redis/backup.js')).backupRedis(ctx),
};
