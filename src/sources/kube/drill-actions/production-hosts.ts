import { drillHost, type DrillContext, type RestoreAction } from './types.js';

/**
 * Rewrites every production host name in every string of every object (ConfigMap values, env, annotations,
 * Ingress rules, IngressRoute matches; Secret data decoded and re-encoded), so nothing in the drill namespace
 * points at production.
 */
export function productionHostsAction(d: DrillContext): RestoreAction {
  const hosts = [...d.productionHosts].sort((a, b) => b.length - a.length);
  const rewrite = (s: string) => hosts.reduce((acc, h) => acc.split(h).join(drillHost(h, d.domain)), s);
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return rewrite(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [rewrite(k), walk(x)]));
    return v;
  };
  return {
    name: 'drill-production-hosts',
    appliesTo: () => hosts.length > 0,
    transform(obj: any) {
      const { metadata, ...rest } = obj;
      const out: any = { ...(walk(rest) as object), metadata: { ...metadata, annotations: walk(metadata?.annotations), labels: metadata?.labels } };
      if (out.metadata.annotations === undefined) delete out.metadata.annotations;
      if (out.metadata.labels === undefined) delete out.metadata.labels;
      if (obj.kind === 'Secret' && obj.data && typeof obj.data === 'object') {
        out.data = Object.fromEntries(
          Object.entries(obj.data as Record<string, string>).map(([k, b64]) => [k, Buffer.from(rewrite(Buffer.from(b64, 'base64').toString('latin1')), 'latin1').toString('base64')]),
        );
      }
      return out;
    },
  };
}

/** Host names served by the backup's Ingresses, IngressRoutes and Certificates. */
export function collectProductionHosts(objects: any[]): string[] {
  const hosts = new Set<string>();
  for (const o of objects) {
    if (o?.kind === 'Ingress') {
      for (const r of o.spec?.rules ?? []) if (r?.host) hosts.add(String(r.host));
      for (const t of o.spec?.tls ?? []) for (const h of t?.hosts ?? []) hosts.add(String(h));
    } else if (o?.kind === 'IngressRoute') {
      for (const r of o.spec?.routes ?? []) for (const m of String(r?.match ?? '').matchAll(/Host(?:SNI)?\(([^)]*)\)/g)) {
        for (const h of m[1].matchAll(/`([^`]+)`/g)) hosts.add(h[1]);
      }
      for (const d of o.spec?.tls?.domains ?? []) {
        if (d?.main) hosts.add(String(d.main));
        for (const s of d?.sans ?? []) hosts.add(String(s));
      }
    } else if (o?.kind === 'Certificate') {
      for (const h of o.spec?.dnsNames ?? []) hosts.add(String(h));
      if (o.spec?.commonName) hosts.add(String(o.spec.commonName));
    }
  }
  return [...hosts].filter((h) => h.includes('.') && !h.startsWith('*'));
}
