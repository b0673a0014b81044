import { hostIn } from '../restore-actions/production-hosts.js';
import type { RestoreAction, TransformContext } from '../restore-actions/types.js';

export type { RestoreAction, TransformContext };

/** What the drill transforms know besides the restore context. */
export interface DrillContext {
  /** Hosts the production Ingresses, IngressRoutes and Certificates serve (collected from the backup). */
  productionHosts: string[];
  /** Where drill hosts live; without it, objects that would route a host are dropped. */
  domain?: string;
  /** Placeholder values for env and Secret rewrites. */
  vars: Record<string, string>;
  env: Record<string, string>;
  secretData: Record<string, Record<string, string>>;
}

/** `gushen.lurus.cn` → `gushen-lurus-cn.<domain>`, or an unroutable `.invalid` name when no domain is set. */
export function drillHost(host: string, domain: string | undefined): string {
  return hostIn(host, domain ?? 'drill.invalid');
}

export function fillVars(template: string, vars: Record<string, string>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (m, k: string) => vars[k] ?? m);
}
