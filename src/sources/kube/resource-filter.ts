import { UsageError } from '../../util/errors.js';
import { isValidObjectName, qualifiedResource, type KubeArchiveIndex, type KubeIndexEntry } from './archive.js';

/**
 * `--resource TYPE/NAME`, repeatable: restore only the objects named. TYPE takes kubectl's forms, matched
 * case-insensitively against what the archive's index records for each object (resource, group, kind):
 *
 *   deployments / deployment / deploy / Deployment      plural, singular (the kind), kubectl short name
 *   deployments.apps / deployment.apps / Deployment.apps  with the API group
 *   deployments.v1.apps                                  with version and group
 *
 * Short names are kubectl's for the built-in resources (`cm`, `svc`, `sts`, `ing`, `pvc`...) and whatever the
 * backed-up CustomResourceDefinitions declare. NAME is the object's name (case-sensitive). Each spec must match
 * at least one object of the archive: the restore is refused naming every spec that matched nothing.
 */
export interface ResourceSpec {
  /** As given. */
  spec: string;
  /** The type, lowercased: `deploy`, `deployments`, `deployment`. */
  type: string;
  /** The API group when given (`apps`), and the version with it (`v1`). */
  group?: string;
  version?: string;
  name: string;
}

/** kubectl's short names of built-in resources (`kubectl api-resources`), by qualified resource. */
export const SHORT_NAMES: Readonly<Record<string, readonly string[]>> = {
  componentstatuses: ['cs'],
  configmaps: ['cm'],
  endpoints: ['ep'],
  events: ['ev'],
  limitranges: ['limits'],
  namespaces: ['ns'],
  nodes: ['no'],
  persistentvolumeclaims: ['pvc'],
  persistentvolumes: ['pv'],
  pods: ['po'],
  replicationcontrollers: ['rc'],
  resourcequotas: ['quota'],
  serviceaccounts: ['sa'],
  services: ['svc'],
  'customresourcedefinitions.apiextensions.k8s.io': ['crd', 'crds'],
  'daemonsets.apps': ['ds'],
  'deployments.apps': ['deploy'],
  'replicasets.apps': ['rs'],
  'statefulsets.apps': ['sts'],
  'horizontalpodautoscalers.autoscaling': ['hpa'],
  'cronjobs.batch': ['cj'],
  'certificatesigningrequests.certificates.k8s.io': ['csr'],
  'events.events.k8s.io': ['ev'],
  'ingresses.networking.k8s.io': ['ing'],
  'networkpolicies.networking.k8s.io': ['netpol'],
  'poddisruptionbudgets.policy': ['pdb'],
  'priorityclasses.scheduling.k8s.io': ['pc'],
  'storageclasses.storage.k8s.io': ['sc'],
  'certificates.cert-manager.io': ['cert', 'certs'],
  'certificaterequests.cert-manager.io': ['cr', 'crs'],
};

const SPEC_RE = /^([A-Za-z0-9-]+)(?:\.([A-Za-z0-9.-]+))?\/([^/]+)$/;
const VERSION_RE = /^v\d+(?:(?:alpha|beta)\d+)?$/;

/** Checks the syntax of every spec (no archive needed); throws a UsageError naming each bad one. */
export function parseResourceSpecs(specs: string | readonly string[] | undefined): ResourceSpec[] {
  const list = specs === undefined ? [] : typeof specs === 'string' ? [specs] : [...specs];
  const bad: string[] = [];
  const out: ResourceSpec[] = [];
  for (const spec of list) {
    const m = SPEC_RE.exec(spec.trim());
    if (!m || !isValidObjectName(m[3])) {
      bad.push(spec);
      continue;
    }
    const [, type, rest, name] = m;
    const parsed: ResourceSpec = { spec, type: type.toLowerCase(), name };
    if (rest !== undefined) {
      const lower = rest.toLowerCase();
      const dot = lower.indexOf('.');
      const first = dot < 0 ? lower : lower.slice(0, dot);
      if (VERSION_RE.test(first)) {
        parsed.version = first;
        parsed.group = dot < 0 ? '' : lower.slice(dot + 1);
      } else {
        parsed.group = lower;
      }
    }
    out.push(parsed);
  }
  if (bad.length > 0) {
    throw new UsageError(
      `--resource ${bad.map((b) => JSON.stringify(b)).join(', ')}: expected TYPE/NAME as kubectl takes it, e.g. deployment/ai-qtrd-web, deploy/ai-qtrd-web, deployments.apps/ai-qtrd-web, cm/ai-qtrd-config`,
    );
  }
  return out;
}

/** Every name the type of this entry answers to, lowercased: resource, kind (kubectl's singular), short names. */
function typeNames(e: KubeIndexEntry, crdNames: Map<string, string[]>): Set<string> {
  const qr = qualifiedResource(e.resource, e.group);
  return new Set([e.resource, e.kind.toLowerCase(), ...(SHORT_NAMES[qr] ?? []), ...(crdNames.get(qr) ?? [])].map((n) => n.toLowerCase()));
}

/** Short and singular names the backed-up CustomResourceDefinitions declare, by qualified resource. */
function crdTypeNames(index: KubeArchiveIndex, objects: readonly any[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  index.entries.forEach((e, i) => {
    if (e.resource !== 'customresourcedefinitions' || e.group !== 'apiextensions.k8s.io') return;
    const spec = objects[i]?.spec;
    const plural = spec?.names?.plural;
    if (typeof plural !== 'string' || typeof spec?.group !== 'string') return;
    const names = [spec.names.singular, ...(Array.isArray(spec.names.shortNames) ? spec.names.shortNames : [])].filter((n): n is string => typeof n === 'string');
    out.set(qualifiedResource(plural, spec.group), names);
  });
  return out;
}

function typeMatches(s: ResourceSpec, e: KubeIndexEntry, crdNames: Map<string, string[]>): boolean {
  if (s.group !== undefined && s.group !== e.group) return false;
  if (s.version !== undefined && e.apiVersion !== (e.group ? `${e.group}/${s.version}` : s.version)) return false;
  return typeNames(e, crdNames).has(s.type);
}

/**
 * Resolves the specs against the archive and returns the filter for the restore. Throws a UsageError naming
 * every spec that matches no object, with what the archive does hold of that type (or which types it has).
 */
export function resolveResourceSpecs(specs: readonly string[], index: KubeArchiveIndex, objects: readonly any[]): (obj: any, entry: KubeIndexEntry) => boolean {
  const parsed = parseResourceSpecs(specs);
  const crdNames = crdTypeNames(index, objects);
  const problems: string[] = [];
  for (const s of parsed) {
    const ofType = index.entries.filter((e) => typeMatches(s, e, crdNames));
    if (ofType.length === 0) {
      const types = [...new Set(index.entries.map((e) => qualifiedResource(e.resource, e.group)))].sort();
      problems.push(`${s.spec}: backup ${index.backupId} holds no objects of type "${s.type}${s.version ? `.${s.version}` : ''}${s.group ? `.${s.group}` : ''}" (it has ${types.join(', ')})`);
    } else if (!ofType.some((e) => e.name === s.name)) {
      const qrs = [...new Set(ofType.map((e) => qualifiedResource(e.resource, e.group)))];
      const names = [...new Set(ofType.map((e) => e.name))].sort();
      const shown = names.slice(0, 20).join(', ') + (names.length > 20 ? `, and ${names.length - 20} more` : '');
      problems.push(`${s.spec}: backup ${index.backupId} has no ${qrs.join(' or ')} named "${s.name}" (it has ${shown})`);
    }
  }
  if (problems.length > 0) {
    throw new UsageError(`--resource matched nothing in the backup, so nothing was restored: ${problems.join('; ')}`);
  }
  return (_obj, entry) => parsed.some((s) => s.name === entry.name && typeMatches(s, entry, crdNames));
}
