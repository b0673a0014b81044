import { UsageError } from '../../../util/errors.js';
import type { RestoreAction, TransformContext } from './types.js';
import { isMapping, isRecord } from './types.js';

/**
 * Production host names in a copy. Restoring into another namespace next to the original (a copy, a drill),
 * the copy's Ingresses and IngressRoutes would claim the production hosts (`gushen.lurus.cn`) a second time,
 * and its cert-manager Certificates would request a second certificate for them. Unless the restore keeps
 * hosts (`--keep-hosts`), certificates are left out, and routes are moved to `<host-with-dashes>.<domain>`
 * when a host domain is set (`--host-domain`, else `drill.domain`) or left out when none is. Restoring into
 * the backed-up namespace itself (disaster recovery) changes nothing. The drill's transforms
 * (drill-actions/) use the same pieces.
 */

/** The kinds that route host names: Kubernetes Ingresses and Traefik's IngressRoutes. */
export const ROUTE_KINDS: ReadonlySet<string> = new Set(['Ingress', 'IngressRoute', 'IngressRouteTCP', 'IngressRouteUDP']);

const DNS_SUBDOMAIN_RE = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;

/** `--host-domain`: a DNS name (`staging.lurus.cn`), lowercase, no scheme, port or trailing dot. */
export function checkHostDomain(domain: string): void {
  if (!DNS_SUBDOMAIN_RE.test(domain)) throw new UsageError(`--host-domain ${domain}: expected a DNS name such as staging.example.com (lowercase letters, digits, '-' and '.')`);
}

/** `gushen.lurus.cn` → `gushen-lurus-cn.<domain>`. */
export function hostIn(host: string, domain: string): string {
  const label = host.replace(/\./g, '-').replace(/[^a-z0-9-]/gi, '').toLowerCase();
  return `${label}.${domain}`;
}

/** Host names served by these Ingresses, IngressRoutes and Certificates (wildcards and bare names left out). */
export function collectProductionHosts(objects: readonly any[]): string[] {
  const hosts = new Set<string>();
  for (const o of objects) {
    if (o?.kind === 'Ingress') {
      for (const r of o.spec?.rules ?? []) if (r?.host) hosts.add(String(r.host));
      for (const t of o.spec?.tls ?? []) for (const h of t?.hosts ?? []) hosts.add(String(h));
    } else if (o?.kind === 'IngressRoute' || o?.kind === 'IngressRouteTCP') {
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

/** Replaces each of `hosts` (longest first) with `to(host)` in a string. */
export function hostRewriter(hosts: readonly string[], to: (host: string) => string): (s: string) => string {
  const sorted = [...hosts].sort((a, b) => b.length - a.length);
  return (s) => sorted.reduce((acc, h) => acc.split(h).join(to(h)), s);
}

/**
 * Rewrites host names in every string of an object (ConfigMap values, env, annotations, Ingress rules,
 * IngressRoute matches; Secret data decoded and re-encoded), keys included; names and labels stay.
 */
export function rewriteHosts(obj: any, rewrite: (s: string) => string): any {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return rewrite(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [rewrite(k), walk(x)]));
    return v;
  };
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
}

/** Removes what makes a route ask for a certificate: cert-manager annotations and Traefik's ACME certResolver. */
export function stripAcmeHooks(obj: any): any {
  const ann = obj.metadata?.annotations;
  if (isRecord(ann)) {
    for (const k of Object.keys(ann)) if (k.startsWith('cert-manager.io/') || k.startsWith('acme.cert-manager.io/')) delete ann[k];
  }
  if (isRecord(obj.spec?.tls)) delete obj.spec.tls.certResolver;
  return obj;
}

/** True when this restore moves production hosts out of the way: into another namespace, without --keep-hosts. */
export function movesHosts(ctx: TransformContext): boolean {
  return isMapping(ctx) && ctx.keepHosts !== true;
}

function hostsOf(obj: any): string {
  const hosts = collectProductionHosts([obj]);
  return hosts.length > 0 ? hosts.join(', ') : 'its hosts';
}

/**
 * cert-manager Certificates and CertificateRequests (and ACME Orders and Challenges): a copy would have
 * cert-manager request a second certificate for the production hosts. Left out of restores into another
 * namespace; a copy moved to a host domain gets no certificate either (its routes lose their ACME hooks).
 */
export const productionCertificatesAction: RestoreAction = {
  name: 'production-certificates',
  appliesTo: (r) => (r.group === 'cert-manager.io' && (r.kind === 'Certificate' || r.kind === 'CertificateRequest')) || r.group === 'acme.cert-manager.io',
  transform: (obj: any, ctx: TransformContext) => (movesHosts(ctx) ? null : obj),
  dropReason: (obj: any) => `cert-manager would request a second certificate for ${hostsOf(obj)}; restores into another namespace leave certificates out (--keep-hosts keeps them)`,
};

/**
 * Ingresses and IngressRoutes: with a host domain their hosts are rewritten (by production-hosts, next) and
 * their ACME hooks removed; without one they are left out, as they would route the production hosts.
 */
export const productionRoutesAction: RestoreAction = {
  name: 'production-routes',
  appliesTo: (r) => ROUTE_KINDS.has(r.kind),
  transform(obj: any, ctx: TransformContext) {
    if (!movesHosts(ctx)) return obj;
    if (!ctx.hostDomain) return null;
    return stripAcmeHooks(obj);
  },
  dropReason: (obj: any) =>
    `it routes ${hostsOf(obj)}, which the original serves; without a host domain (--host-domain, or drill.domain in the config) there is no other host to move it to (--keep-hosts keeps it as it is)`,
};

/** With a host domain: every production host name in every string becomes `<host-with-dashes>.<domain>`. */
export const productionHostsAction: RestoreAction = {
  name: 'production-hosts',
  appliesTo: () => true,
  transform(obj: any, ctx: TransformContext) {
    const domain = ctx.hostDomain;
    if (!movesHosts(ctx) || !domain || !ctx.productionHosts?.length) return obj;
    return rewriteHosts(obj, hostRewriter(ctx.productionHosts, (h) => hostIn(h, domain)));
  },
};
