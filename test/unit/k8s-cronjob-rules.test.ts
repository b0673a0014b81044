import { readFileSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { credentialFiles, refusePlaceholderFiles, refusePlaceholders } from '../../src/commands/common.js';
import { generateX25519Identity } from '../../src/crypto/index.js';
import { parseConfig } from '../../src/sources/registry.js';
import { UsageError } from '../../src/util/errors.js';
import { REPO_ROOT, runCliProcess } from '../support/cli-process.js';
import { tempDir } from '../support/tmp.js';

const DIR = join(REPO_ROOT, 'k8s/cronjobs');
const cronJobs = readdirSync(DIR)
  .filter((f) => f.startsWith('cronjob-'))
  .flatMap((f) => parseAllDocuments(readFileSync(join(DIR, f), 'utf8')).map((d) => d.toJS()))
  .filter((o) => o?.kind === 'CronJob');

describe('k8s/cronjobs rules (plain YAML, no kubectl needed)', () => {
  it('no pod is pinned to a node name; every container uses the image kustomize `images:` sets', () => {
    expect(cronJobs.map((c) => c.metadata.name).sort()).toEqual(['gushen-dr-drill', 'gushen-dr-monthly', 'gushen-dr-nightly']);
    const kustomization = parseAllDocuments(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8'))[0].toJS();
    expect(kustomization.images.map((i: { name: string }) => i.name)).toEqual(['gushen-dr']);
    for (const cj of cronJobs) {
      const pod = cj.spec.jobTemplate.spec.template.spec;
      const text = JSON.stringify(pod);
      expect(text, cj.metadata.name).not.toContain('kubernetes.io/hostname');
      expect(pod.nodeName, cj.metadata.name).toBeUndefined();
      expect(pod.nodeSelector?.['kubernetes.io/hostname'], cj.metadata.name).toBeUndefined();
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) expect(c.image, `${cj.metadata.name}/${c.name}`).toBe('gushen-dr');
    }
  });

  it('no shipped secret is an environment file, and an environment holding the placeholder is refused, naming each variable', () => {
    // Every credential is a file now (the replication password was the last .env secret: gushen-dr-env.env).
    expect(readdirSync(join(DIR, 'secrets')).filter((f) => f.endsWith('.env'))).toEqual([]);
    // An operator's own Secret poured into the environment (envFrom) is still checked.
    let err: unknown;
    try {
      refusePlaceholders({ PATH: '/usr/bin', PGREPL_PASSWORD: 'REPLACE_ME', S3_SECRET: 'x-REPLACE_ME' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/^PGREPL_PASSWORD, S3_SECRET still hold the placeholder REPLACE_ME \(a Secret in the environment\)/);
    expect(() => refusePlaceholders({ PGPASSWORD: 'real', AWS_SECRET_ACCESS_KEY: 'real-too' })).not.toThrow();
  });

  /** A config naming password files, the way k8s/cronjobs/gushen-dr.yaml does. */
  const configWith = (files: { pg?: string; repl?: string; redis?: string; drillPg?: string }) =>
    parseConfig(
      stringify({
        store: { url: 'file:///nonexistent' },
        encryption: { recipients: [generateX25519Identity().recipient] },
        sources: {
          postgres: { url: 'postgres://u@db:5432/', databases: ['d'], passwordFile: files.pg, pitr: { enabled: true, url: 'postgres://repl@db:5432/', passwordFile: files.repl } },
          redis: { url: 'redis://redis-0:6379', passwordFile: files.redis },
        },
        drill: { postgres: { url: 'postgres://drill@db:5432/', passwordFile: files.drillPg } },
      }),
    );

  it('the shipped credential files hold only placeholders, and a config naming them is refused, naming each file', () => {
    const secrets = join(DIR, 'secrets');
    const pg = join(secrets, 'postgres-password');
    const drillPg = join(secrets, 'drill-postgres-password');
    const repl = join(secrets, 'replication-password');
    const s3 = join(secrets, 's3-credentials');
    expect(readFileSync(pg, 'utf8')).toBe('REPLACE_ME\n');
    expect(readFileSync(repl, 'utf8')).toBe('REPLACE_ME\n');
    expect(readFileSync(drillPg, 'utf8')).toBe('REPLACE_ME\n');
    const ini = readFileSync(s3, 'utf8').split('\n').filter((l) => l.includes('='));
    expect(ini.map((l) => l.split('=')[0].trim()).sort()).toEqual(['aws_access_key_id', 'aws_secret_access_key']);
    for (const l of ini) expect(l.split('=')[1].trim()).toBe('REPLACE_ME');

    const cfg = configWith({ pg, repl, drillPg, redis: '/nonexistent/redis/password' });
    expect(credentialFiles(cfg, { AWS_SHARED_CREDENTIALS_FILE: s3 }).map((c) => c.what)).toEqual([
      'sources.postgres.passwordFile',
      'sources.postgres.pitr.passwordFile',
      'sources.redis.passwordFile',
      'drill.postgres.passwordFile',
      'AWS_SHARED_CREDENTIALS_FILE',
    ]);
    let err: unknown;
    try {
      refusePlaceholderFiles(cfg, { AWS_SHARED_CREDENTIALS_FILE: s3 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toBe(
      `sources.postgres.passwordFile ${pg}, sources.postgres.pitr.passwordFile ${repl}, drill.postgres.passwordFile ${drillPg}, AWS_SHARED_CREDENTIALS_FILE ${s3} still hold the placeholder REPLACE_ME ` +
        '(k8s/cronjobs/secrets/): put the real values into the Secrets (k8s/cronjobs/secrets/README.md); nothing was done',
    );
    // A file that is not mounted in this container (the prune container has no database password) is not an error here.
    expect(() => refusePlaceholderFiles(configWith({ redis: '/nonexistent/redis/password' }), {})).not.toThrow();
  });

  it('real values in the credential files pass', async () => {
    const dir = await tempDir();
    try {
      const pw = join(dir.path, 'password');
      await writeFile(pw, 'a-real-password\n');
      const s3 = join(dir.path, 'credentials');
      await writeFile(s3, '[default]\naws_access_key_id = AKIAREAL\naws_secret_access_key = real\n');
      expect(() => refusePlaceholderFiles(configWith({ pg: pw, redis: pw, drillPg: pw }), { AWS_SHARED_CREDENTIALS_FILE: s3 })).not.toThrow();
      await writeFile(pw, 'x-REPLACE_ME-x\n');
      expect(() => refusePlaceholderFiles(configWith({ redis: pw }), {})).toThrow(`sources.redis.passwordFile ${pw} still holds the placeholder REPLACE_ME`);
    } finally {
      await dir.cleanup();
    }
  });

  it('the AWS SDK reads the S3 keys from the shipped credentials file through AWS_SHARED_CREDENTIALS_FILE (no code of ours, no key in the environment)', async () => {
    const saved = { ...process.env };
    try {
      for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
      process.env.AWS_SHARED_CREDENTIALS_FILE = join(DIR, 'secrets', 's3-credentials');
      process.env.AWS_CONFIG_FILE = '/nonexistent/aws-config';
      const client = new S3Client({ region: 'us-east-1' });
      const creds = await client.config.credentials();
      expect(creds).toMatchObject({ accessKeyId: 'REPLACE_ME', secretAccessKey: 'REPLACE_ME' });
      client.destroy();
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });

  it('through the CLI: a job started with a placeholder secret exits 2 before it reads its config', async () => {
    const r = await runCliProcess(['--config', '/nonexistent/gushen-dr.yaml', 'backup'], { env: { PGPASSWORD: 'REPLACE_ME', AWS_SECRET_ACCESS_KEY: 'REPLACE_ME' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('gushen-dr: AWS_SECRET_ACCESS_KEY, PGPASSWORD still hold the placeholder REPLACE_ME');
    expect(r.stderr).not.toContain('/nonexistent');
  }, 60_000);

  it('through the CLI: a job whose mounted credential file still holds the placeholder exits 2, naming the file', async () => {
    const dir = await tempDir();
    try {
      const file = join(dir.path, 'gushen-dr.yaml');
      const pg = join(DIR, 'secrets', 'postgres-password');
      await writeFile(
        file,
        stringify({
          store: { url: `file://${join(dir.path, 'store')}` },
          encryption: { recipients: [generateX25519Identity().recipient] },
          sources: { postgres: { url: 'postgres://u@127.0.0.1:1/', databases: ['d'], passwordFile: pg } },
        }),
      );
      const r = await runCliProcess(['--config', file, 'backup'], { env: { AWS_SHARED_CREDENTIALS_FILE: undefined, PGPASSFILE: undefined } });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`gushen-dr: sources.postgres.passwordFile ${pg} still holds the placeholder REPLACE_ME`);
      expect(readdirSync(dir.path)).toEqual(['gushen-dr.yaml']); // nothing was done: no store created
    } finally {
      await dir.cleanup();
    }
  }, 60_000);
});
