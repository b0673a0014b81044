/** Name and metadata validation shared by all resources. */
import type { FieldError } from './errors.js';
import type { NameRule } from './registry.js';
import { strMap, type KubeObject } from './types.js';

const DNS1123_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN = `${DNS1123_LABEL}(\\.${DNS1123_LABEL})*`;
const DNS1035_LABEL = '[a-z]([-a-z0-9]*[a-z0-9])?';
const LABEL_VALUE = '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?';
const QUALIFIED_NAME = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';

const full = (re: string): RegExp => new RegExp(`^${re}$`);

export function quote(s: string): string {
  return JSON.stringify(s);
}

/** Returns the problems with a name under the given rule (empty when valid). */
export function nameProblems(name: string, rule: NameRule): string[] {
  switch (rule) {
    case 'label':
      return [
        ...(name.length > 63 ? ['must be no more than 63 characters'] : []),
        ...(full(DNS1123_LABEL).test(name) ? [] : [`a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '${DNS1123_LABEL}')`]),
      ];
    case 'dns1035':
      return [
        ...(name.length > 63 ? ['must be no more than 63 characters'] : []),
        ...(full(DNS1035_LABEL).test(name) ? [] : [`a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '${DNS1035_LABEL}')`]),
      ];
    case 'path':
      if (name === '.' || name === '..') return [`may not be '${name}'`];
      if (name.includes('/')) return ["may not contain '/'"];
      if (name.includes('%')) return ["may not contain '%'"];
      return [];
    case 'subdomain':
      return [
        ...(name.length > 253 ? ['must be no more than 253 characters'] : []),
        ...(full(DNS1123_SUBDOMAIN).test(name) ? [] : [`a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '${DNS1123_LABEL}(\\.${DNS1123_LABEL})*')`]),
      ];
  }
}

function labelKeyProblems(key: string): string[] {
  const slash = key.indexOf('/');
  const name = slash === -1 ? key : key.slice(slash + 1);
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const out: string[] = [];
  if (prefix !== undefined && (prefix.length > 253 || !full(DNS1123_SUBDOMAIN).test(prefix))) out.push('prefix part must be a lowercase RFC 1123 subdomain');
  if (name.length === 0 || name.length > 63 || !full(QUALIFIED_NAME).test(name)) {
    out.push(`name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '${QUALIFIED_NAME}')`);
  }
  return out;
}

/** Validates metadata.name (unless it is being generated) and labels. */
export function validateMetadata(obj: KubeObject, rule: NameRule): FieldError[] {
  const errs: FieldError[] = [];
  const name = obj.metadata.name;
  if (!name) {
    errs.push({ field: 'metadata.name', type: 'Required', detail: 'name or generateName is required' });
  } else {
    for (const p of nameProblems(name, rule)) errs.push({ field: 'metadata.name', type: 'Invalid', value: quote(name), detail: p });
  }
  for (const [k, v] of Object.entries(strMap(obj.metadata.labels))) {
    for (const p of labelKeyProblems(k)) errs.push({ field: 'metadata.labels', type: 'Invalid', value: quote(k), detail: p });
    if (v.length > 63 || !full(LABEL_VALUE).test(v)) {
      errs.push({ field: 'metadata.labels', type: 'Invalid', value: quote(v), detail: `a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '${LABEL_VALUE}')` });
    }
  }
  for (const k of Object.keys(strMap(obj.metadata.annotations))) {
    for (const p of labelKeyProblems(k)) errs.push({ field: 'metadata.annotations', type: 'Invalid', value: quote(k), detail: p });
  }
  return errs;
}
