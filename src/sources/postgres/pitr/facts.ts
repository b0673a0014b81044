import { z } from 'zod';

const lsn = z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/, 'expected an LSN like 0/7000028');
const segment = z.string().regex(/^[0-9A-F]{24}$/, 'expected a WAL segment name');

/**
 * Manifest facts of a `pg_basebackup-tar` artifact: where its WAL starts and ends (from the archive's own
 * backup_label and backup_manifest), which cluster and timeline, and when it ran. A restore to a time needs a
 * base backup that stopped before it, plus every WAL segment from `startSegment` on.
 */
export const basebackupFactsSchema = z.strictObject({
  type: z.literal('postgres-basebackup'),
  serverVersion: z.string(),
  pgBasebackupVersion: z.string(),
  systemIdentifier: z.string().regex(/^\d{1,20}$/),
  timeline: z.number().int().positive(),
  walSegmentSize: z.number().int().positive(),
  startLsn: lsn,
  stopLsn: lsn,
  startSegment: segment,
  stopSegment: segment,
  /** Before pg_basebackup started, and after it finished (the backup is consistent from then on). */
  startedAt: z.iso.datetime(),
  stoppedAt: z.iso.datetime(),
  /** When every segment from startSegment to stopSegment was found in the store. */
  walCheckedAt: z.iso.datetime(),
});

export type BasebackupFacts = z.infer<typeof basebackupFactsSchema>;

declare module '../../../repository/manifest.js' {
  interface ArtifactFactsByType {
    'postgres-basebackup': BasebackupFacts;
  }
}
