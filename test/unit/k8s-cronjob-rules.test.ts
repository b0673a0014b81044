import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { refusePlaceholders } from '../../src/commands/common.js';
import { UsageError } from '../../src/util/errors.js';
import { REPO_ROOT, runCliProcess } from '../support/cli-process.js';

const DIR = join(REPO_ROOT, 'k8s/cronjobs');
const cronJobs = readdirSync(DIR)
  .filter((f) => f.startsWith('cronjob-'))
  .flatMap((f) => parseAllDocuments(readFileSync(join(DIR, f), 'utf8')).map((d) => d.toJS()))
  .filter((o) => o?.kind === 'CronJob');

/** Reads a kustomize env file (NAME=value lines) the way secretGenerator does. */
const envFile = (f: string) =>
  Object.fromEntries(
    readFileSync(join(DIR, 'secrets', f), 'utf8')
      .split('\n')
      .filter((l) => l.includes('=') && !l.trim().startsWith('#'))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );

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

  it('the shipped secrets hold only placeholders, and an environment made from them is refused, naming each variable', () => {
    for (const f of ['gushen-dr-env.env', 'gushen-dr-drill-env.env']) {
      const env = envFile(f);
      const secret = Object.keys(env).filter((k) => /PASSWORD|SECRET|KEY/.test(k));
      expect(secret.length, f).toBeGreaterThan(0);
      let err: unknown;
      try {
        refusePlaceholders({ PATH: '/usr/bin', ...env });
      } catch (e) {
        err = e;
      }
      expect(err, f).toBeInstanceOf(UsageError);
      for (const k of secret) expect((err as Error).message, f).toContain(k);
      expect((err as Error).message).toMatch(/still holds? the placeholder REPLACE_ME \(k8s\/cronjobs\/secrets\/\*\.env\)/);
    }
    expect(() => refusePlaceholders({ PGPASSWORD: 'real', AWS_SECRET_ACCESS_KEY: 'real-too' })).not.toThrow();
  });

  it('through the CLI: a job started with a placeholder secret exits 2 before it reads its config', async () => {
    const r = await runCliProcess(['--config', '/nonexistent/gushen-dr.yaml', 'backup'], { env: { PGPASSWORD: 'REPLACE_ME', AWS_SECRET_ACCESS_KEY: 'REPLACE_ME' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('gushen-dr: AWS_SECRET_ACCESS_KEY, PGPASSWORD still hold the placeholder REPLACE_ME');
    expect(r.stderr).not.toContain('/nonexistent');
  }, 60_000);
});
