import { z } from 'zod';

const count = z.number().int().nonnegative();

/** Manifest facts of a `kube-tar` artifact: objects per resource and what was skipped, and why. */
export const kubeFactsSchema = z.strictObject({
  type: z.literal('kube'),
  namespace: z.string(),
  serverVersion: z.string().optional(),
  objects: count,
  /** Objects per qualified resource, kubectl-style: `deployments.apps`, and bare `configmaps` for the core group (src/sources/kube/archive.ts). */
  counts: z.record(z.string(), count),
  /** Skipped objects per `<qualified resource>: <reason>`, e.g. `pods: owned by a controller (recreated)`. */
  skipped: z.record(z.string(), count),
});

export type KubeFacts = z.infer<typeof kubeFactsSchema>;

declare module '../../repository/manifest.js' {
  interface ArtifactFactsByType {
    kube: KubeFacts;
  }
}
