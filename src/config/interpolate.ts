import { UsageError } from '../util/errors.js';

const VAR = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string of a parsed YAML document.
 * `$$` stands for a literal `$`. Runs on parsed values, never on YAML text, so a value cannot inject structure.
 */
export function interpolate(value: unknown, env: NodeJS.ProcessEnv, path: string[] = []): unknown {
  if (typeof value === 'string') return interpolateString(value, env, path);
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, [...path, String(i)]));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env, [...path, k])]));
  }
  return value;
}

function interpolateString(s: string, env: NodeJS.ProcessEnv, path: string[]): string {
  return s.replace(VAR, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === '$$') return '$';
    const v = env[name!];
    if (v !== undefined && v !== '') return v;
    if (fallback !== undefined) return fallback;
    throw new UsageError(`config ${path.join('.') || '(root)'}: environment variable ${name} is not set`);
  });
}
