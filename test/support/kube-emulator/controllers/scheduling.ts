/** Node selection for pods (nodeSelector, required node affinity, unschedulable nodes). */
import { arr, rec, str, strMap, type KubeObject } from '../types.js';

function exprMatches(expr: unknown, labels: Record<string, string>): boolean {
  const e = rec(expr);
  const key = str(e.key) ?? '';
  const values = arr(e.values).map(String);
  const has = Object.prototype.hasOwnProperty.call(labels, key);
  const v = labels[key] ?? '';
  switch (e.operator) {
    case 'In':
      return has && values.includes(v);
    case 'NotIn':
      return !has || !values.includes(v);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Gt':
      return has && Number(v) > Number(values[0]);
    case 'Lt':
      return has && Number(v) < Number(values[0]);
    default:
      return false;
  }
}

export function nodeMatches(podSpec: unknown, node: KubeObject): boolean {
  const spec = rec(podSpec);
  if (rec(node.spec).unschedulable === true) return false;
  const labels = strMap(node.metadata.labels);
  for (const [k, v] of Object.entries(strMap(spec.nodeSelector))) if (labels[k] !== v) return false;
  const required = rec(rec(rec(spec.affinity).nodeAffinity).requiredDuringSchedulingIgnoredDuringExecution);
  const terms = arr(required.nodeSelectorTerms).map(rec);
  if (terms.length === 0) return true;
  const fields = { 'metadata.name': node.metadata.name ?? '' };
  return terms.some((t) => arr(t.matchExpressions).every((e) => exprMatches(e, labels)) && arr(t.matchFields).every((e) => exprMatches(e, fields)));
}

/** Required node-selector terms (e.g. of bound local PVs) that a node must also satisfy. */
export function termsMatch(terms: unknown[], node: KubeObject): boolean {
  const labels = strMap(node.metadata.labels);
  const fields = { 'metadata.name': node.metadata.name ?? '' };
  return terms.length === 0 || terms.map(rec).some((t) => arr(t.matchExpressions).every((e) => exprMatches(e, labels)) && arr(t.matchFields).every((e) => exprMatches(e, fields)));
}

export function pickNode(podSpec: unknown, nodes: KubeObject[], volumeTerms: unknown[][] = []): KubeObject | undefined {
  return nodes.find((n) => nodeMatches(podSpec, n) && volumeTerms.every((t) => termsMatch(t, n)));
}

export function nodeInternalIp(node: KubeObject | undefined): string | undefined {
  const a = arr(rec(node?.status).addresses).map(rec).find((x) => x.type === 'InternalIP');
  return str(a?.address);
}
