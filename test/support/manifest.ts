import { parseBackupId } from '../../src/repository/layout.js';
import { manifestSchema, type Artifact, type Manifest } from '../../src/repository/manifest.js';

/** A valid Completed manifest around the given artifacts, for restore tests that write artifacts directly. */
export function testManifest(id: string, artifacts: Artifact[]): Manifest {
  const parsed = parseBackupId(id);
  if (!parsed) throw new Error(`not a backup id: ${id}`);
  const started = parsed.startedAt.getTime();
  return manifestSchema.parse({
    formatVersion: 1,
    id,
    schedule: parsed.schedule,
    status: 'Completed',
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date(started + 60_000).toISOString(),
    tool: { name: 'gushen-dr', version: 'test' },
    host: 'test',
    sources: [...new Set(artifacts.map((a) => a.source))],
    artifacts,
    failures: [],
  }) as Manifest;
}
