import { execFile } from 'node:child_process';
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
    // Credentials: read-only files from Secrets, none in the environment. The S3 keys from gushen-dr-s3 where
    // AWS_SHARED_CREDENTIALS_FILE points; the replication password from gushen-dr-replication where
    // pitr.passwordFile points (before: PGREPL_PASSWORD from a secretKeyRef, the one credential in the environment).
    expect(c.envFrom).toEqual([{ configMapRef: { name: 'gushen-dr-settings' } }]);
    expect(c.env.filter((e: Obj) => e.valueFrom?.secretKeyRef)).toEqual([]);
    expect(pod.securityContext.fsGroup).toBe(pod.securityContext.runAsGroup);
    const secretVolume = (secretName: string, key: string) => {
      const v = pod.volumes.find((x: Obj) => x.secret?.secretName === secretName);
      expect(v?.secret, secretName).toMatchObject({ defaultMode: 0o440, items: [{ key, path: key }] });
      const m = c.volumeMounts.find((x: Obj) => x.name === v.name);
      expect(m.readOnly, secretName).toBe(true);
      return `${m.mountPath}/${key}`;
    };
    expect(settings.AWS_SHARED_CREDENTIALS_FILE).toBe(secretVolume('gushen-dr-s3', 'credentials'));
    const replicationFile = secretVolume('gushen-dr-replication', 'password');
    expect(secretKey('gushen-dr-s3', 'credentials')).toMatch(/^\[default\]\naws_access_key_id = REPLACE_ME\naws_secret_access_key = REPLACE_ME\n$/);
    expect(secretKey('gushen-dr-replication', 'password')).toBe('REPLACE_ME\n');
    expect(pod.volumes.filter((v: Obj) => v.secret).map((v: Obj) => v.secret.secretName).sort()).toEqual(['gushen-dr-replication', 'gushen-dr-s3']);
    const env = { ...settings };
    const cfg = parseConfig(text, env, 'gushen-dr-config (wal-archive)');
    const pitr = cfg.sources.postgres!.pitr!;
    expect(pitr.enabled).toBe(true);
    expect(pitr.spoolDir).toBe(c.volumeMounts.find((m: Obj) => m.name === 'spool').mountPath);
    expect(pitr.listen).toBe(`0.0.0.0:${c.ports.find((p: Obj) => p.name === 'metrics').containerPort}`);
    expect(pitr.url).toMatch(/^postgres:\/\/gushen_dr_replication@/);
    expect(pitr.passwordFile).toBe(replicationFile);
  });
});
