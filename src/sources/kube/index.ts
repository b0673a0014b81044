import type { Artifact, Manifest } from '../../repository/manifest.js';
import { UsageError } from '../../util/errors.js';
import type { Source } from '../source.js';
import { kubeConfigSchema } from './config.js';
import { kubeFactsSchema } from './facts.js';
import { parseResourceSpecs } from './resource-filter.js';
import { checkHostDomain } from './restore-actions/production-hosts.js';
import type { KubeRestoreOptions, KubeRestoreReport } from './restore.js';

declare module '../source.js' {
  interface SourceRestoreTypes {
    kube: { options: KubeRestoreOptions; report: KubeRestoreReport };
  }
}

/**
 * The namespace's manifests and Secrets: every namespaced object the API server lists (and the cluster-scoped
 * objects it depends on) as one tar of JSON documents. Members load their modules on use: the Kubernetes client
 * alone costs ~80 MiB, which a PostgreSQL-only run should not pay.
 */
export const kubeSource = {
  name: 'kube' as const,
  title: 'Kubernetes',
  configSchema: kubeConfigSchema,
  factsSchema: kubeFactsSchema,
  artifactKinds: ['kube-tar'],
  restoreOrder: 10,
  // The kubeconfig loads and the API server answers, before anything runs (src/sources/shared/kube-preflight.ts).
  validate: async (config, signal) => (await import('../shared/kube-preflight.js')).preflightKube(config.sources.kube, 'sources.kube', { signal }),
  // gushen-dr check: the API answers, and a SelfSubjectAccessReview per permission the command needs (check.ts).
  check: async (ctx) => (await import('./check.js')).checkKube(ctx),
  backup: async (ctx) => (await import('./backup.js')).backupKube(ctx),
  deepVerify: async (ctx, a) => (await import('./restore.js')).deepVerifyKube(ctx, a),
  restoreFlags: [
    { flags: '--to-namespace <ns>', description: 'restore Kubernetes objects into this namespace' },
    { flags: '--existing <policy>', description: 'existing Kubernetes objects: skip or update', default: 'skip' },
    { flags: '--keep-node-ports', description: 'keep Service nodePorts' },
    { flags: '--keep-namespace-dns', description: 'with --to-namespace: leave <svc>.<backed-up namespace>.svc names pointing at the original' },
    { flags: '--keep-hosts', description: 'with --to-namespace: keep production hosts in Ingresses/IngressRoutes and keep Certificates (by default Certificates are left out, and routes moved to --host-domain or left out)' },
    { flags: '--host-domain <domain>', description: 'with --to-namespace: production hosts become <host-with-dashes>.<domain> (default: drill.domain)' },
    { flags: '--resource <type/name...>', description: 'restore only these Kubernetes objects, as kubectl names them (repeatable): deployment/ai-qtrd-web, deploy/ai-qtrd-web, deployments.apps/ai-qtrd-web, cm/ai-qtrd-config' },
    { flags: '--no-wait', description: 'do not wait for Deployments/StatefulSets to become ready' },
  ],
  restoreOptions: (f, common) => {
    const existing = f.existing as string | undefined;
    if (existing !== undefined && existing !== 'skip' && existing !== 'update') throw new UsageError(`--existing ${existing}: expected skip or update`);
    const hostDomain = f.hostDomain as string | undefined;
    if (hostDomain !== undefined) {
      checkHostDomain(hostDomain);
      if (f.toNamespace === undefined) throw new UsageError(`--host-domain ${hostDomain}: only a restore into another namespace (--to-namespace) moves hosts`);
      if (f.keepHosts === true) throw new UsageError('--host-domain and --keep-hosts contradict each other: choose one');
    }
    const resources = parseResourceSpecs(f.resource as string | string[] | undefined).map((r) => r.spec);
    return {
      toNamespace: f.toNamespace as string | undefined,
      dryRun: common.dryRun,
      existing: existing as KubeRestoreOptions['existing'],
      keepNodePorts: f.keepNodePorts === true,
      keepNamespaceDns: f.keepNamespaceDns === true,
      keepHosts: f.keepHosts === true,
      hostDomain,
      ...(resources.length > 0 ? { resources } : {}),
      waitForReady: f.wait !== false,
    };
  },
  checkRestoreOptions: (_manifest, o, config) => {
    if (!o.kubeConfig && !config.sources.kube) throw new UsageError('restoring kube needs sources.kube in the config (for the cluster to restore into)');
  },
  // The Kubernetes restore reads and verifies its whole archive before applying anything.
  artifactsToCheckFirst: (m, _o, first) => (first ? [] : ofSource(m)),
  restore: async (ctx, o) => {
    const report = await (await import('./restore.js')).restoreKube(ctx, o);
    return { items: report.items, report };
  },
  drill: { prepare: async (ctx) => (await import('./drill.js')).prepareKubeDrill(ctx) },
} satisfies Source<KubeRestoreOptions, KubeRestoreReport>;

const ofSource = (m: Manifest): Artifact[] => m.artifacts.filter((a) => a.source === 'kube');
