import { readFile } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import type { Config } from './schema.js';
import { interpolate } from './interpolate.js';
import { UsageError } from '../util/errors.js';

export const DEFAULT_CONFIG_FILE = './gushen-dr.yaml';

/** `--config FILE`, else `GUSHEN_DR_CONFIG`, else `./gushen-dr.yaml`. */
export function resolveConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.GUSHEN_DR_CONFIG ?? DEFAULT_CONFIG_FILE;
}

/** Any zod schema whose output is a Config: the registry's (src/sources/registry.ts), built from every source. */
export type ConfigSchema = z.ZodType<unknown>;

/** Reads and checks a config file against `schema`; every error is a UsageError naming the file and the key. */
export async function loadConfigWith(schema: ConfigSchema, file: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  if (existsSync(file) && statSync(file).isDirectory()) throw new UsageError(`config file ${file} is a directory, not a file`);
  if (!existsSync(file)) {
    throw new UsageError(`config file ${file} not found (use --config FILE or GUSHEN_DR_CONFIG)`);
  }
  return parseConfigWith(schema, await readFile(file, 'utf8'), env, file);
}

/** Parses YAML text, replaces `${VAR}`s from `env` and checks it against `schema`. */
export function parseConfigWith(schema: ConfigSchema, text: string, env: NodeJS.ProcessEnv = process.env, source = 'config'): Config {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    throw new UsageError(`${source}: invalid YAML: ${e.message.split('\n')[0]}`);
  }
  const raw: unknown = doc.toJS();
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new UsageError(`${source}: expected a YAML mapping at the top level`);
  }
  let interpolated: unknown;
  try {
    interpolated = interpolate(raw, env);
  } catch (err) {
    if (err instanceof UsageError) throw new UsageError(`${source}: ${err.message.replace(/^config /, '')}`);
    throw err;
  }
  const result = schema.safeParse(interpolated, { reportInput: true });
  if (!result.success) throw new UsageError(`${source}: ${formatIssues(result.error.issues, schema)}`);
  return result.data as Config;
}

/** The issues as one line; with the schema, an unknown key gets a "did you mean" naming the allowed key it is closest to. */
export function formatIssues(issues: z.core.$ZodIssue[], schema?: z.ZodType<unknown>): string {
  return issues
    .map((i) => {
      const path = i.path.map(String).join('.') || '(root)';
      return `${path}: ${issueMessage(i, schema)}`;
    })
    .join('; ');
}

function issueMessage(i: z.core.$ZodIssue, schema?: z.ZodType<unknown>): string {
  if (i.code === 'unrecognized_keys') {
    const allowed = schema ? keysAt(schema, i.path) : undefined;
    const named = i.keys.map((k) => {
      const near = allowed?.map((a) => ({ a, d: levenshtein(k.toLowerCase(), a.toLowerCase()) })).filter((x) => x.d <= 2).sort((x, y) => x.d - y.d)[0];
      return near ? `"${k}" (did you mean "${near.a}"?)` : `"${k}"`;
    });
    return `unknown key${i.keys.length > 1 ? 's' : ''} ${named.join(', ')}`;
  }
  if (i.code === 'invalid_type') {
    const received = (i as { input?: unknown }).input;
    return received === undefined ? `required, expected ${i.expected}` : `expected ${i.expected}, got ${describe(received)}`;
  }
  if (i.code === 'invalid_value') return `expected one of ${i.values.map((v) => JSON.stringify(v)).join(', ')}`;
  return i.message;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** The keys an object schema allows at `path` (through optional, default, pipe, array and record wrappers). */
function keysAt(schema: z.ZodType<unknown>, path: readonly PropertyKey[]): string[] | undefined {
  let s: z.core.$ZodType | undefined = schema;
  for (const p of path) {
    s = unwrap(s);
    const def = s?._zod.def as { type: string; shape?: Record<string, z.core.$ZodType>; catchall?: z.core.$ZodType; element?: z.core.$ZodType; valueType?: z.core.$ZodType } | undefined;
    if (def?.type === 'object') s = def.shape?.[String(p)] ?? def.catchall;
    else if (def?.type === 'array') s = def.element;
    else if (def?.type === 'record') s = def.valueType;
    else return undefined;
  }
  const def = unwrap(s)?._zod.def as { type: string; shape?: Record<string, unknown> } | undefined;
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : undefined;
}

function unwrap(s: z.core.$ZodType | undefined): z.core.$ZodType | undefined {
  for (let i = 0; s && i < 20; i++) {
    const def = s._zod.def as { type: string; innerType?: z.core.$ZodType; in?: z.core.$ZodType };
    if (def.innerType) s = def.innerType;
    else if (def.type === 'pipe' && def.in) s = def.in;
    else return s;
  }
  return s;
}

/** Edit distance (insertions, deletions, substitutions). */
export function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}
