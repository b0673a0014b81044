/**
 * Restores into another namespace against the API emulator (fixture `gushen`): production hosts are moved out
 * of the way by default (no second IngressRoute for gushen.lurus.cn, no second Certificate), kept with
 * keepHosts; and `--resource` in kubectl's forms, repeated, refused when a spec matches nothing.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/engine/backup.js';
import { type Config } from '../../src/config/schema.js';
import { configSchema } from '../../src/sources/registry.js';
import { generateX25519Identity, parseIdentity, type Identity } from '../../src/crypto/index.js';
import type { Manifest } from '../../src/repository/manifest.js';
import { restoreKube, type KubeRestoreOptions } from '../../src/sources/kube/restore.js';
import { collectProductionHosts } from '../../src/sources/kube/restore-actions/production-hosts.js';
import type { RestoreContext } from '../../src/sources/restore-context.js';
import { FileStore } from '../../src/store/file.js';
import { UsageError } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/log.js';
import { startKubeEmulator, type KubeEmulator } from '../support/kube-emulator/index.js';
import { runCliProcess } from '../support/cli-process.js';
import { tempDir } from '../support/tmp.js';

const SRC = 'ai-qtrd';
const HOST = 'gushen.lurus.cn';

describe('restore into another namespace: production hosts, and --resource', () => {
  let emu: KubeEmulator;
  let dir: { path: string; cleanup: () => Promise<void> };
  let config: Config;
  let identities: Identity[];
  let store: FileStore;
  let manifest: Manifest;
  const kubeconfig = () => join(dir.path, 'kubeconfig');
  const ctx = (c = config): RestoreContext => ({ store, manifest, identities, config: c, log: silentLogger });
  const restore = (opts: KubeRestoreOptions, c = config) => restoreKube(ctx(c), { waitForReady: false, ...opts });
  const inNamespace = (ns: string) => emu.objects().filter((o) => o.metadata.namespace === ns);
  /** Hosts that objects of the namespace route or certify. */
  const claimedHosts = (ns: string) => collectProductionHosts(inNamespace(ns));

  beforeAll(async () => {
    [emu, dir] = await Promise.all([startKubeEmulator({ fixture: 'gushen', readyDelayMs: 50 }), tempDir()]);
    await emu.writeKubeconfig(kubeconfig());
    const id = generateX25519Identity();
    identities = [parseIdentity(id.identity)];
    const identityFile = join(dir.path, 'identity.txt');
    await writeFile(identityFile, `${id.identity}\n`, { mode: 0o600 });
    config = configSchema.parse({
      store: { url: `file://${dir.path}/store` },
      encryption: { recipients: [id.recipient], identityFile },
      sources: { kube: { namespace: SRC, kubeconfig: kubeconfig() } },
    });
    await writeFile(join(dir.path, 'gushen-dr.yaml'), JSON.stringify({ store: config.store, encryption: { recipients: config.encryption.recipients, identityFile }, sources: { kube: { namespace: SRC, kubeconfig: kubeconfig() } } }));
    store = new FileStore(`${dir.path}/store`);
    manifest = await runBackup({ config, store, schedule: 'manual', only: ['kube'], log: silentLogger, now: () => new Date('2026-03-01T02:00:00Z') });
    expect(manifest.status).toBe('Completed');
    // The production namespace does claim the host: an IngressRoute and a Certificate.
    expect(claimedHosts(SRC)).toEqual([HOST]);
  });

  afterAll(async () => {
    await emu?.stop();
    await dir?.cleanup();
  });

  it('--to-namespace without a host domain: the IngressRoute and Certificate are left out, each with its reason', async () => {
    const report = await restore({ toNamespace: 'copy-a' });
    expect(report.failed).toBe(0);
    expect(claimedHosts('copy-a')).toEqual([]);
    expect(inNamespace('copy-a').filter((o) => ['IngressRoute', 'Ingress', 'Certificate'].includes(o.kind))).toEqual([]);
    expect(report.dropped.map((d) => `${d.item} ${d.by}`).sort()).toEqual([
      'certificates.cert-manager.io copy-a/gushen-lurus-cn-tls production-certificates',
      'ingressroutes.traefik.io copy-a/ai-qtrd production-routes',
    ]);
    for (const d of report.dropped) expect(d.reason).toContain(HOST);
    expect(report.items.find((i) => i.item === 'ingressroutes.traefik.io copy-a/ai-qtrd')).toMatchObject({
      result: 'skipped',
      detail: expect.stringMatching(/^dropped by transform production-routes: it routes gushen\.lurus\.cn, which the original serves; without a host domain/),
    });
    expect(report.hosts).toEqual({ production: [HOST], kept: false });
    // The rest of the copy is there; app settings without a domain to move to are left as they are.
    expect(emu.get('v1', 'ConfigMap', 'copy-a', 'ai-qtrd-config').data.NEXTAUTH_URL).toBe(`https://${HOST}`);
    expect(emu.get('apps/v1', 'Deployment', 'copy-a', 'ai-qtrd-web')).toBeDefined();
    // Production's own objects are untouched.
    expect(claimedHosts(SRC)).toEqual([HOST]);
  });

  it('--host-domain: hosts become <host-with-dashes>.<domain> everywhere; no certificate is requested', async () => {
    const report = await restore({ toNamespace: 'copy-b', hostDomain: 'staging.example.com' });
    expect(report.failed).toBe(0);
    const route = emu.get('traefik.io/v1alpha1', 'IngressRoute', 'copy-b', 'ai-qtrd');
    expect(route.spec.routes.map((r: any) => r.match)).toEqual([
      expect.stringMatching(/^Host\(`gushen-lurus-cn\.staging\.example\.com`\) && \(PathPrefix/),
      'Host(`gushen-lurus-cn.staging.example.com`)',
    ]);
    expect(emu.get('cert-manager.io/v1', 'Certificate', 'copy-b', 'gushen-lurus-cn-tls')).toBeUndefined();
    expect(claimedHosts('copy-b')).toEqual(['gushen-lurus-cn.staging.example.com']);
    expect(JSON.stringify(inNamespace('copy-b').filter((o) => o.kind !== 'Secret'))).not.toContain(HOST);
    expect(emu.get('v1', 'ConfigMap', 'copy-b', 'ai-qtrd-config').data.NEXTAUTH_URL).toBe('https://gushen-lurus-cn.staging.example.com');
    expect(report.dropped.map((d) => d.by)).toEqual(['production-certificates']);
    expect(report.hosts).toEqual({ production: [HOST], kept: false, domain: 'staging.example.com' });
  });

  it('drill.domain in the config is the host domain when --host-domain is not given', async () => {
    const withDomain = configSchema.parse({ ...config, drill: { ...config.drill, domain: 'drill.example.com' } });
    const report = await restore({ toNamespace: 'copy-c' }, withDomain);
    expect(report.failed).toBe(0);
    expect(claimedHosts('copy-c')).toEqual(['gushen-lurus-cn.drill.example.com']);
  });

  it('--keep-hosts: the copy claims the production host, as before', async () => {
    const report = await restore({ toNamespace: 'copy-d', keepHosts: true });
    expect(report.failed).toBe(0);
    expect(report.dropped).toEqual([]);
    expect(emu.get('traefik.io/v1alpha1', 'IngressRoute', 'copy-d', 'ai-qtrd').spec.routes[1].match).toBe(`Host(\`${HOST}\`)`);
    expect(emu.get('cert-manager.io/v1', 'Certificate', 'copy-d', 'gushen-lurus-cn-tls').spec.dnsNames).toEqual([HOST]);
    expect(claimedHosts('copy-d')).toEqual([HOST]);
  });

  it('the dry run plans the same: routes and certificates would be left out', async () => {
    const plan = await restore({ toNamespace: 'copy-e', dryRun: true });
    expect(plan.items.find((i) => i.item === 'certificates.cert-manager.io copy-e/gushen-lurus-cn-tls')).toMatchObject({ result: 'would-skip', detail: expect.stringContaining('production-certificates') });
    expect(inNamespace('copy-e')).toEqual([]);
  });

  it('--resource in kubectl forms, several at once, restores exactly those objects', async () => {
    const report = await restore({ toNamespace: 'one-a', resources: ['deployment/ai-qtrd-web', 'cm/ai-qtrd-config', 'svc/ai-qtrd-web'] });
    expect(report.items.map((i) => `${i.item} ${i.result}`)).toEqual([
      'namespaces one-a created',
      'configmaps one-a/ai-qtrd-config created',
      'services one-a/ai-qtrd-web created',
      'deployments.apps one-a/ai-qtrd-web created',
    ]);
  });

  it('--resource that matches nothing: refused naming every such spec, nothing applied', async () => {
    const err = await restore({ toNamespace: 'one-b', resources: ['deploy/ai-qtrd-web', 'deploymnt/ai-qtrd-api', 'statefulset/ai-qtrd-web'] }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toContain('deploymnt/ai-qtrd-api: backup');
    expect((err as Error).message).toContain('statefulset/ai-qtrd-web: backup');
    expect((err as Error).message).toMatch(/has no statefulsets\.apps named "ai-qtrd-web" \(it has redis\)/);
    expect((err as Error).message).not.toContain('deploy/ai-qtrd-web:');
    expect(emu.objects().filter((o) => o.metadata.namespace === 'one-b' || o.metadata.name === 'one-b')).toEqual([]);
  });

  it('CLI: --resource is repeatable; a typo exits 2 naming it, before anything is applied', async () => {
    const cli = (args: string[]) => runCliProcess(['--config', join(dir.path, 'gushen-dr.yaml'), '--log-level', 'silent', ...args]);
    const ok = await cli(['-o', 'json', 'restore', 'latest', '--only', 'kube', '--to-namespace', 'one-c', '--no-wait', '--resource', 'deployment/ai-qtrd-api', '--resource', 'Deployment.apps/ai-qtrd-web']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).items.map((i: any) => i.item)).toEqual(['namespaces one-c', 'deployments.apps one-c/ai-qtrd-api', 'deployments.apps one-c/ai-qtrd-web']);

    const typo = await cli(['restore', 'latest', '--only', 'kube', '--to-namespace', 'one-d', '--resource', 'deployment/ai-qtrd-web', '--resource', 'deployments/ai-qtrd-wbe']);
    expect(typo.code, typo.stderr).toBe(2);
    expect(typo.stderr).toMatch(/--resource matched nothing in the backup, so nothing was restored: deployments\/ai-qtrd-wbe: backup \S+ has no deployments\.apps named "ai-qtrd-wbe"/);
    expect(typo.stdout).not.toMatch(/\bok\b/);
    expect(inNamespace('one-d')).toEqual([]);

    const bad = await cli(['restore', 'latest', '--only', 'kube', '--host-domain', 'staging.example.com']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--host-domain staging.example.com: only a restore into another namespace (--to-namespace) moves hosts');
  });
});
