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
  if (!result.success) throw new UsageError(`${source}: ${formatIssues(result.error.issues)}`);
  return result.data as Config;
}

export function formatIssues(issues: z.core.$ZodIssue[]): string {
  return issues
    .map((i) => {
      const path = i.path.map(String).join('.') || '(root)';
      return `${path}: ${issueMessage(i)}`;
    })
    .join('; ');
}

function issueMessage(i: z.core.$ZodIssue): string {
  if (i.code === 'unrecognized_keys') return `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${k}"`).join(', ')}`;
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
