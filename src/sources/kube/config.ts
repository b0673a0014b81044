import { z } from 'zod';

/** `sources.kube` in the config file (README's configuration table). */
export const kubeConfigSchema = z.strictObject({
  namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'expected a namespace name (DNS-1123 label)'),
  kubeconfig: z.string().optional(),
  context: z.string().optional(),
  excludeResources: z.array(z.string()).default([]),
  clusterResources: z.boolean().default(true),
});

export type KubeSourceConfig = z.infer<typeof kubeConfigSchema>;

declare module '../../config/schema.js' {
  interface SourceConfigs {
    kube: KubeSourceConfig;
  }
}
