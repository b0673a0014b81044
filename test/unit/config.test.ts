import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfigPath } from '../../src/config/index.js';
import { parseConfig } from '../../src/sources/registry.js';
import { UsageError } from '../../src/util/errors.js';

const R = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
const base = (extra = '') => `store: { url: "file:///tmp/x" }\nencryption: { recipients: [${R}] }\nsources:\n  postgres: { url: "postgres://u@h:5432/", databases: [gushen] }\n${extra}`;

const MALFORMED: Array<[string, string, Record<string, string>?]> = [
  ['store: [', 'cfg: invalid YAML: '],
  ['- just\n- a list', 'cfg: expected a YAML mapping at the top level'],
  [`encryption: { recipients: [${R}] }\nsources: { redis: { url: "redis://h" } }`, 'cfg: store: required, expected object'],
  [base().replace('file:///tmp/x', 'ftp://x'), 'cfg: store.url: expected a URL starting with file:// or s3://'],
  [base().replace('store: { url: "file:///tmp/x" }', 'store: { url: "file:///tmp/x", bucket: b }'), 'cfg: store: unknown key "bucket"'],
  [base().replace(`[${R}]`, '[age1nope]'), 'cfg: encryption.recipients.0: expected an age X25519 recipient (age1…)'],
  [base().replace(`recipients: [${R}]`, 'identityFile: /k'), 'cfg: encryption: expected at least one recipient: set encryption.recipients or encryption.recipientsFile'],
  [`store: { url: "file:///tmp/x" }\nencryption: { recipients: [${R}] }\nsources: []`, 'cfg: sources: expected object, got array'],
  [base().replace('databases: [gushen]', 'databases: []'), 'cfg: sources.postgres.databases: expected at least one database name'],
  [base().replace('"postgres://u@h:5432/"', '5432'), 'cfg: sources.postgres.url: expected string, got number'],
  [base().replace('"postgres://u@h:5432/"', '"not a url"'), 'cfg: sources.postgres.url: expected a URL (postgres://user:password@host:5432/)'],
  [base('  redis: { url: "redis://h", method: scp }\n'), 'cfg: sources.redis.method: expected one of "exec", "file", "replication"'],
  [base('  mysql: { url: "mysql://h" }\n'), 'cfg: sources: unknown key "mysql"'],
  [base('retention: { nightly: 0 }\n'), 'cfg: retention.nightly: Too small: expected number to be >0'],
  [base('retention: { weekly: 4 }\n'), 'cfg: retention: unknown key "weekly"'],
  [base().replace('"postgres://u@h:5432/"', '"postgres://u:${PGPW}@h:5432/"'), 'cfg: sources.postgres.url: environment variable PGPW is not set'],
  [base('  kube: { namespace: "AI_QTRD" }\n'), 'cfg: sources.kube.namespace: expected a namespace name (DNS-1123 label)'],
  [base('store2: {}\n'), 'cfg: (root): unknown key "store2" (did you mean "store"?)'],
  [base('backup: { concurrency: "two" }\n'), 'cfg: backup.concurrency: expected number, got string'],
  [base().replace('store: { url: "file:///tmp/x" }', 'store: { url: "s3://b/p", s3: { checksums: always } }'), 'cfg: store.s3.checksums: expected one of "when_supported", "when_required"'],
];

describe('config', () => {
  it('parses a minimal config and fills defaults', () => {
    const c = parseConfig(base(), {}, 'cfg');
    expect(c.retention).toEqual({ nightly: 14, monthly: 12, manual: 10, incompleteAfterHours: 24 });
    expect(c.store.s3.partSizeMiB).toBe(8);
    expect(c.sources.postgres?.globals).toBe(true);
    expect(c.drill.namespacePrefix).toBe('dr-drill-');
  });

  it('interpolates ${VAR} and ${VAR:-default} in values, $$ as a literal $', () => {
    const c = parseConfig(base().replace('"postgres://u@h:5432/"', '"postgres://u:${PW}@${HOST:-db}:5432/$$x"'), { PW: 's3cr3t' }, 'cfg');
    expect(c.sources.postgres?.url).toBe('postgres://u:s3cr3t@db:5432/$x');
  });

  it('does not let an interpolated value inject YAML structure', () => {
    const c = parseConfig(base().replace('databases: [gushen]', 'databases: ["${DB}"]'), { DB: 'a]\nevil: [1' }, 'cfg');
    expect(c.sources.postgres?.databases).toEqual(['a]\nevil: [1']);
  });

  it.each(MALFORMED)('rejects malformed config %#', (text, message, env) => {
    let err: unknown;
    try {
      parseConfig(text, env ?? {}, 'cfg');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    if (message.endsWith(': ')) expect((err as Error).message.startsWith(message)).toBe(true);
    else expect((err as Error).message).toBe(message);
  });

  it('finds the config file: --config, else GUSHEN_DR_CONFIG, else ./gushen-dr.yaml', () => {
    expect(resolveConfigPath('a.yaml', { GUSHEN_DR_CONFIG: 'b.yaml' })).toBe('a.yaml');
    expect(resolveConfigPath(undefined, { GUSHEN_DR_CONFIG: 'b.yaml' })).toBe('b.yaml');
    expect(resolveConfigPath(undefined, {})).toBe('./gushen-dr.yaml');
  });

  it('the CLI exits 2 on a malformed config and names the field', async () => {
    const { runCli } = await import('../../src/cli.js');
    const dir = await mkdtemp(join(tmpdir(), 'gushen-dr-cfg-'));
    const file = join(dir, 'bad.yaml');
    await writeFile(file, base('retention: { weekly: 4 }\n'));
    const errors: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (errors.push(String(s)), true)) as typeof process.stderr.write;
    try {
      expect(await runCli(['node', 'gushen-dr', '--config', file, 'list'])).toBe(2);
    } finally {
      process.stderr.write = orig;
    }
    expect(errors.join('')).toContain(`${file}: retention: unknown key "weekly"`);
  });

  it('ships example configs that validate', async () => {
    const { loadConfig } = await import('../../src/sources/registry.js');
    // No password comes from the environment: every one is a file (the same paths k8s/cronjobs mounts).
    const env = { S3_ENDPOINT: 'http://minio:9000', PGUSER: 'u', PGHOST: 'db', DRILL_PGUSER: 'd' };
    const g = await loadConfig('examples/gushen.yaml', env);
    expect(g.sources.kube?.namespace).toBe('ai-qtrd');
    expect(g.sources.redis?.method).toBe('exec');
    expect([g.sources.postgres?.passwordFile, g.sources.redis?.passwordFile, g.drill.postgres?.passwordFile, g.drill.redis.passwordFile]).toEqual([
      '/etc/gushen-dr-credentials/postgres/password',
      '/etc/gushen-dr-credentials/redis/password',
      '/etc/gushen-dr-credentials/drill-postgres/password',
      '/etc/gushen-dr-credentials/redis/password',
    ]);
    expect(readFileSync('examples/gushen.yaml', 'utf8')).not.toMatch(/PASSWORD\}|:\$\{[A-Z_]*PASS/);
    const l = await loadConfig('examples/local.yaml', {});
    expect(l.store.url).toBe('file://./backups');
    expect(l.sources.postgres?.url).toBe('postgres://postgres@127.0.0.1:5432/');
  });
});
