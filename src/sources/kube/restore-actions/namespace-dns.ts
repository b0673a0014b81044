import { isMapping, type RestoreAction, type TransformContext } from './types.js';

/**
 * Restoring into another namespace: in-cluster DNS names that carry the source namespace
 * (`redis-service.ai-qtrd.svc.cluster.local`, `ai-qtrd-api.ai-qtrd.svc:8000`) would make the copy's apps talk
 * to the original (a drill's or a copy's writes landing in production's Redis). They are pointed at the target
 * namespace, in every string of every object (ConfigMap values, env, args; Secret data decoded and re-encoded),
 * unless the restore keeps them (`--keep-namespace-dns`). Names of other namespaces are left alone.
 */
export const namespaceDnsAction: RestoreAction = {
  name: 'namespace-dns',
  appliesTo: () => true,
  transform(obj: any, ctx: TransformContext) {
    if (!isMapping(ctx) || ctx.keepNamespaceDns) return obj;
    const re = new RegExp(`(\\b[a-z0-9]([-a-z0-9]*[a-z0-9])?)\\.${ctx.sourceNamespace.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.svc\\b`, 'g');
    const rewrite = (s: string) => s.replace(re, `$1.${ctx.targetNamespace}.svc`);
    const walk = (v: unknown): unknown => {
      if (typeof v === 'string') return rewrite(v);
      if (Array.isArray(v)) return v.map(walk);
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
      return v;
    };
    const { metadata, ...rest } = obj;
    const out: any = { ...(walk(rest) as object), metadata };
    if (obj.kind === 'Secret' && obj.data && typeof obj.data === 'object') {
      out.data = Object.fromEntries(
        Object.entries(obj.data as Record<string, string>).map(([k, b64]) => [k, Buffer.from(rewrite(Buffer.from(b64, 'base64').toString('latin1')), 'latin1').toString('base64')]),
      );
    }
    return out;
  },
};
