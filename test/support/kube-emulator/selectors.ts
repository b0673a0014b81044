/** Label selectors (string and structured forms) and field selectors. */
import { badRequest } from './errors.js';
import { arr, getPath, rec, str, strMap } from './types.js';

export type LabelOp = '=' | '!=' | 'in' | 'notin' | 'exists' | '!exists';

export interface LabelRequirement {
  key: string;
  op: LabelOp;
  values: string[];
}

export type LabelSelector = LabelRequirement[];

/** Splits on commas that are not inside parentheses. */
function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of s) {
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (c === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

const KEY_RE = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

function checkKey(key: string, whole: string): string {
  if (!KEY_RE.test(key)) throw badRequest(`unable to parse requirement: found '${key}', expected: identifier (in selector "${whole}")`);
  return key;
}

export function parseLabelSelector(input: string | undefined): LabelSelector {
  if (!input || input.trim() === '') return [];
  const reqs: LabelSelector = [];
  for (const part of splitTopLevel(input)) {
    let m: RegExpMatchArray | null;
    if ((m = part.match(/^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/))) {
      const values = m[3]!.split(',').map((v) => v.trim()).filter((v) => v !== '');
      reqs.push({ key: checkKey(m[1]!, input), op: m[2] as 'in' | 'notin', values });
    } else if ((m = part.match(/^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/))) {
      reqs.push({ key: checkKey(m[1]!, input), op: m[2] === '!=' ? '!=' : '=', values: [m[3]!] });
    } else if ((m = part.match(/^!\s*(\S+)$/))) {
      reqs.push({ key: checkKey(m[1]!, input), op: '!exists', values: [] });
    } else if ((m = part.match(/^(\S+)$/))) {
      reqs.push({ key: checkKey(m[1]!, input), op: 'exists', values: [] });
    } else {
      throw badRequest(`unable to parse requirement: invalid label selector "${input}"`);
    }
  }
  return reqs;
}

export function matchesLabels(selector: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return selector.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case '=':
        return has && v === r.values[0];
      case '!=':
        return !has || v !== r.values[0];
      case 'in':
        return has && r.values.includes(v ?? '');
      case 'notin':
        return !has || !r.values.includes(v ?? '');
      case 'exists':
        return has;
      case '!exists':
        return !has;
    }
    return false;
  });
}

/**
 * Converts a structured `metav1.LabelSelector` (matchLabels / matchExpressions).
 * An empty selector matches everything; a missing one (undefined) matches nothing.
 */
export function fromLabelSelectorSpec(spec: unknown): LabelSelector | undefined {
  if (spec === undefined || spec === null) return undefined;
  const s = rec(spec);
  const reqs: LabelSelector = Object.entries(strMap(s.matchLabels)).map(([key, v]) => ({ key, op: '=' as const, values: [v] }));
  for (const e of arr(s.matchExpressions)) {
    const ex = rec(e);
    const key = str(ex.key) ?? '';
    const values = arr(ex.values).filter((v): v is string => typeof v === 'string');
    const op = str(ex.operator);
    if (op === 'In') reqs.push({ key, op: 'in', values });
    else if (op === 'NotIn') reqs.push({ key, op: 'notin', values });
    else if (op === 'Exists') reqs.push({ key, op: 'exists', values: [] });
    else if (op === 'DoesNotExist') reqs.push({ key, op: '!exists', values: [] });
  }
  return reqs;
}

/** Formats a selector like `a=b,c in (d,e)` (as used in Scale.status.selector). */
export function formatLabelSelector(sel: LabelSelector): string {
  return sel
    .map((r) => {
      switch (r.op) {
        case '=':
          return `${r.key}=${r.values[0]}`;
        case '!=':
          return `${r.key}!=${r.values[0]}`;
        case 'in':
          return `${r.key} in (${r.values.join(',')})`;
        case 'notin':
          return `${r.key} notin (${r.values.join(',')})`;
        case 'exists':
          return r.key;
        case '!exists':
          return `!${r.key}`;
      }
      return '';
    })
    .join(',');
}

export interface FieldRequirement {
  path: string;
  negate: boolean;
  value: string;
}

export function parseFieldSelector(input: string | undefined, allowed: string[]): FieldRequirement[] {
  if (!input || input.trim() === '') return [];
  const out: FieldRequirement[] = [];
  for (const part of input.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const m = part.match(/^([^=!]+)(==|=|!=)(.*)$/);
    if (!m) throw badRequest(`invalid selector: '${input}'; can't understand '${part}'`);
    const path = m[1]!.trim();
    if (path !== 'metadata.name' && path !== 'metadata.namespace' && !allowed.includes(path)) {
      throw badRequest(`field label not supported: ${path}`);
    }
    out.push({ path, negate: m[2] === '!=', value: m[3]!.trim() });
  }
  return out;
}

function fieldValue(obj: unknown, path: string): string {
  const v = getPath(obj, path);
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function matchesFields(reqs: FieldRequirement[], obj: unknown): boolean {
  return reqs.every((r) => (fieldValue(obj, r.path) === r.value) !== r.negate);
}
