/** What every restore transform is told about the restore it is part of. */
export interface TransformContext {
  /** The namespace the backup was taken from. */
  sourceNamespace: string;
  /** The namespace objects are restored into (equal to sourceNamespace unless mapping). */
  targetNamespace: string;
  backupId: string;
  restoreId: string;
  /** Keep Services' nodePorts (and healthCheckNodePort) instead of letting the cluster allocate new ones. */
  keepNodePorts: boolean;
  /** Mapping to another namespace: leave `<service>.<source namespace>.svc` names pointing at the source. */
  keepNamespaceDns?: boolean;
  /** Mapping to another namespace: keep production hosts, routes and certificates as they are (`--keep-hosts`). */
  keepHosts?: boolean;
  /** Mapping to another namespace: production hosts become `<host-with-dashes>.<hostDomain>`; without it routes are left out. */
  hostDomain?: string;
  /** The hosts the backed-up routes and certificates serve (collected from the whole archive). */
  productionHosts?: string[];
}

/** Which objects an action handles: the group and resource of the archive entry, and the object's kind. */
export interface ResourceRef {
  group: string;
  resource: string;
  kind: string;
}

/**
 * One small per-kind transform, in the style of Velero's pkg/restore/actions. `transform` gets a private
 * deep copy of the backed-up object (it may change it in place) and returns the object to create, or null to
 * leave the object out. `prepareUpdate` adjusts the desired object before it replaces a live one (`--existing
 * update`), typically copying immutable or cluster-allocated fields from the live object.
 */
export interface RestoreAction {
  name: string;
  appliesTo(ref: ResourceRef): boolean;
  transform(obj: any, ctx: TransformContext): any | null;
  /** Why `transform` left the object out (for the report), when the action's name does not say it. */
  dropReason?(obj: any, ctx: TransformContext): string;
  prepareUpdate?(desired: any, live: any): any;
}

export function isMapping(ctx: TransformContext): boolean {
  return ctx.sourceNamespace !== ctx.targetNamespace;
}

/** The namespace a reference should carry after mapping: the source namespace becomes the target one. */
export function mapNamespace(ns: unknown, ctx: TransformContext): unknown {
  return ns === ctx.sourceNamespace ? ctx.targetNamespace : ns;
}

export function isRecord(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deletes keys from a string map and drops the map when it ends up empty. */
export function deleteKeys(holder: Record<string, any> | undefined, field: string, keys: string[]): void {
  if (!holder || !isRecord(holder[field])) return;
  for (const k of keys) delete holder[field][k];
  if (Object.keys(holder[field]).length === 0) delete holder[field];
}
