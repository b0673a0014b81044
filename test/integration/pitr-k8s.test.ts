import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/sources/registry.js';
import { REPO_ROOT } from '../support/cli-process.js';

const run = promisify(execFile);
type Obj = Record<string, any>;
let kubectl: string | undefined;
try {
  kubectl = (await run('sh', ['-c', 'command -v kubectl'])).stdout.trim() || undefined;
} catch {
  kubectl = undefined;
}

async function kustomize(dir: string): Promise<Obj[]> {
  const { stdout } = await run(kubectl!, ['kustomize', dir], { maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(stdout).map((d) => d.toJS() as Obj);
}

/** k8s/wal-archive: one archiver, its spool volume, no Kubernetes API rights, the shared config with PITR on. */
describe.skipIf(!kubectl)('k8s/wal-archive (rendered with kubectl kustomize)', () => {
  it('one replica, Recreate, a spool claim, no token and no RBAC; the shared config parses with its environment', async () => {
    const objects = await kustomize(join(REPO_ROOT, 'k8s/wal-archive'));
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'Deployment/gushen-dr-wal-archive',
      'PersistentVolumeClaim/gushen-dr-wal-spool',
      'Service/gushen-dr-wal-archive',
      'ServiceAccount/gushen-dr-wal-archive',
    ]);
    for (const o of objects) expect(o.metadata.namespace).toBe('ai-qtrd');
    const dep = objects.find((o) => o.kind === 'Deployment')!;
    expect(dep.spec.replicas).toBe(1);
    expect(dep.spec.strategy).toEqual({ type: 'Recreate' });
    const pod = dep.spec.template.spec;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(objects.find((o) => o.kind === 'ServiceAccount')!.automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBe('gushen-dr-wal-archive');
    const c = pod.containers[0];
    expect(c.args).toEqual(['wal-archive']);
    expect(c.image).toBe('gushen-dr:0.1.0');
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(c.readinessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(pod.volumes.find((v: Obj) => v.name === 'spool').persistentVolumeClaim.claimName).toBe('gushen-dr-wal-spool');
    const svc = objects.find((o) => o.kind === 'Service')!;
    expect(svc.spec.selector).toEqual(dep.spec.selector.matchLabels);
    expect(dep.spec.template.metadata.labels).toMatchObject(dep.spec.selector.matchLabels);

    // It mounts the CronJobs' config (k8s/cronjobs): with its environment that config enables PITR, spooling where the claim is mounted.
    const shared = await kustomize(join(REPO_ROOT, 'k8s/cronjobs'));
    const text = shared.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'gushen-dr-config')!.data['gushen-dr.yaml'];
    const settings = shared.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'gushen-dr-settings')!.data as Record<string, string>;
    const secretKey = (name: string, key: string) => {
      const v = shared.find((o) => o.kind === 'Secret' && o.metadata.name === name)?.data?.[key] as string | undefined;
      expect(v, `Secret ${name} key ${key} (k8s/cronjobs)`).toBeDefined();
      return Buffer.from(v!, 'base64').toString();
    };
    // Credentials: the S3 keys a read-only file from the Secret gushen-dr-s3 where AWS_SHARED_CREDENTIALS_FILE points;
    // in the environment only the replication password (pitr.url takes no password file), and the YAML says why.
    expect(c.envFrom).toEqual([{ configMapRef: { name: 'gushen-dr-settings' } }]);
    const fromSecrets = c.env.filter((e: Obj) => e.valueFrom?.secretKeyRef);
    expect(fromSecrets).toEqual([{ name: 'PGREPL_PASSWORD', valueFrom: { secretKeyRef: { name: 'gushen-dr-env', key: 'PGREPL_PASSWORD' } } }]);
    expect(readFileSync(join(REPO_ROOT, 'k8s/wal-archive/deployment.yaml'), 'utf8')).toMatch(/pitr\.url \(the replication connection\) takes no\s+#?\s*password file/);
    const s3 = pod.volumes.find((v: Obj) => v.secret?.secretName === 'gushen-dr-s3');
    expect(s3.secret).toMatchObject({ defaultMode: 0o440, items: [{ key: 'credentials', path: 'credentials' }] });
    expect(pod.securityContext.fsGroup).toBe(pod.securityContext.runAsGroup);
    const mount = c.volumeMounts.find((m: Obj) => m.name === s3.name);
    expect(mount.readOnly).toBe(true);
    expect(settings.AWS_SHARED_CREDENTIALS_FILE).toBe(`${mount.mountPath}/credentials`);
    expect(secretKey('gushen-dr-s3', 'credentials')).toMatch(/^\[default\]\naws_access_key_id = REPLACE_ME\naws_secret_access_key = REPLACE_ME\n$/);
    expect(pod.volumes.filter((v: Obj) => v.secret).map((v: Obj) => v.secret.secretName)).toEqual(['gushen-dr-s3']);
    const env = { ...settings, PGREPL_PASSWORD: secretKey('gushen-dr-env', 'PGREPL_PASSWORD') };
    const cfg = parseConfig(text, env, 'gushen-dr-config (wal-archive)');
    const pitr = cfg.sources.postgres!.pitr!;
    expect(pitr.enabled).toBe(true);
    expect(pitr.spoolDir).toBe(c.volumeMounts.find((m: Obj) => m.name === 'spool').mountPath);
    expect(pitr.listen).toBe(`0.0.0.0:${c.ports.find((p: Obj) => p.name === 'metrics').containerPort}`);
    expect(pitr.url).toMatch(/^postgres:\/\/gushen_dr_replication:REPLACE_ME@/);
  });
});
