import {
  KUBE_ARCHIVE_FORMAT,
  KUBE_ARTIFACT_NAME,
  KUBE_INDEX_PATH,
  countByResource,
  type KubeArchiveIndex,
} from './archive.js';
import type { Failure } from '../../repository/manifest.js';
import type { KubeFacts } from './facts.js';
import { KubeClient, loadKubeConfig } from '../shared/kube-client.js';
import { UsageError } from '../../util/errors.js';
import { withFacts } from '../../repository/artifact-writer.js';
import { collectNamespace } from './list.js';
import { jsonFile, packTar, type TarFile } from './tar-writer.js';
import type { BackupFn } from '../source.js';

/**
 * The Kubernetes source: one artifact `kube/resources.tar` (see src/sources/kube/archive.ts for the layout)
 * holding the namespace's objects as read from the API, Secrets included — the tar is compressed and
 * age-encrypted as a whole by the artifact writer, so no Secret reaches the store in plaintext.
 * A resource that cannot be listed makes the backup partial (the artifact is still written, with the rest).
 */
export const backupKube: BackupFn = async (ctx) => {
  const cfg = ctx.config.sources.kube;
  if (!cfg) throw new UsageError('sources.kube is not configured');
  const client = new KubeClient(loadKubeConfig(cfg));
  const startedAt = new Date();
  ctx.log.info({ namespace: cfg.namespace, cluster: client.description }, 'reading Kubernetes objects');
  const collected = await collectNamespace(client, {
    namespace: cfg.namespace,
    excludeResources: cfg.excludeResources,
    clusterResources: cfg.clusterResources,
    log: ctx.log,
    signal: ctx.signal,
  });

  const index: KubeArchiveIndex = {
    format: KUBE_ARCHIVE_FORMAT,
    backupId: ctx.backupId,
    namespace: cfg.namespace,
    createdAt: startedAt.toISOString(),
    ...(collected.serverVersion ? { serverVersion: collected.serverVersion } : {}),
    entries: collected.objects.map((o) => o.entry),
    skipped: collected.skipped,
  };
  function* files(): Generator<TarFile> {
    yield jsonFile(KUBE_INDEX_PATH, index);
    for (const o of collected.objects) yield jsonFile(o.entry.path, o.obj);
  }
  const written = await ctx.writer.write(
    { name: KUBE_ARTIFACT_NAME, source: 'kube', kind: 'kube-tar', compression: 'zstd', compressionLevel: 3 },
    packTar(files(), startedAt),
    ctx.signal,
  );
  const facts: KubeFacts = {
    type: 'kube',
    namespace: cfg.namespace,
    ...(collected.serverVersion ? { serverVersion: collected.serverVersion } : {}),
    objects: collected.objects.length,
    counts: countByResource(index.entries),
    skipped: collected.skipped,
  };
  ctx.log.info(
    { namespace: cfg.namespace, objects: facts.objects, skipped: Object.values(facts.skipped).reduce((a, b) => a + b, 0) },
    'Kubernetes objects backed up',
  );
  const failures: Failure[] = collected.failures.map((error) => ({ source: 'kube', artifact: KUBE_ARTIFACT_NAME, error }));
  return { artifacts: [withFacts(written, facts)], failures };
};
