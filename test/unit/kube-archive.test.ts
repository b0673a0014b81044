import { describe, expect, it } from 'vitest';
import {
  countByResource,
  entryPath,
  indexEntryFor,
  indexProblems,
  itemName,
  parseQualifiedResource,
  qualifiedResource,
  type KubeArchiveIndex,
} from '../../src/sources/kube/archive.js';

describe('kube archive layout', () => {
  it('names resources kubectl-style: bare for the core group, <resource>.<group> otherwise', () => {
    expect(qualifiedResource('configmaps', '')).toBe('configmaps');
    expect(qualifiedResource('deployments', 'apps')).toBe('deployments.apps');
    expect(parseQualifiedResource('ingressroutes.traefik.io')).toEqual({ resource: 'ingressroutes', group: 'traefik.io' });
    expect(parseQualifiedResource('secrets')).toEqual({ resource: 'secrets', group: '' });
  });

  it('lays out namespaced and cluster-scoped objects', () => {
    expect(entryPath({ resource: 'configmaps', group: '', namespace: 'ai-qtrd', name: 'ai-qtrd-config' })).toBe('resources/configmaps/namespaces/ai-qtrd/ai-qtrd-config.json');
    expect(entryPath({ resource: 'deployments', group: 'apps', namespace: 'ai-qtrd', name: 'ai-qtrd-web' })).toBe('resources/deployments.apps/namespaces/ai-qtrd/ai-qtrd-web.json');
    expect(entryPath({ resource: 'persistentvolumes', group: '', name: 'pvc-1' })).toBe('resources/persistentvolumes/cluster/pvc-1.json');
    expect(entryPath({ resource: 'clusterrolebindings', group: 'rbac.authorization.k8s.io', name: 'system:gushen' })).toBe(
      'resources/clusterrolebindings.rbac.authorization.k8s.io/cluster/system:gushen.json',
    );
  });

  it('refuses names that would escape the layout', () => {
    expect(() => entryPath({ resource: 'configmaps', group: '', namespace: 'a', name: '../x' })).toThrow(/invalid object name/);
    expect(() => entryPath({ resource: 'configmaps', group: '', namespace: 'a', name: 'a/b' })).toThrow(/invalid object name/);
    expect(() => entryPath({ resource: 'configmaps', group: '', namespace: '../a', name: 'b' })).toThrow(/invalid namespace/);
  });

  it('builds index entries from objects and names report items', () => {
    const e = indexEntryFor({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'ai-qtrd-api', namespace: 'ai-qtrd' } }, 'deployments', 'apps');
    expect(e).toEqual({ path: 'resources/deployments.apps/namespaces/ai-qtrd/ai-qtrd-api.json', apiVersion: 'apps/v1', kind: 'Deployment', name: 'ai-qtrd-api', namespace: 'ai-qtrd', resource: 'deployments', group: 'apps' });
    expect(itemName(e)).toBe('deployments.apps ai-qtrd/ai-qtrd-api');
    const c = indexEntryFor({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ai-qtrd' } }, 'namespaces', '');
    expect(c.namespace).toBeUndefined();
    expect(itemName(c)).toBe('namespaces ai-qtrd');
  });

  it('finds inconsistent indexes and counts per resource', () => {
    const good = indexEntryFor({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'n' } }, 'secrets', '');
    const index: KubeArchiveIndex = {
      format: 1,
      backupId: '20261124T020000Z-manual',
      namespace: 'n',
      createdAt: '2026-11-24T02:00:00.000Z',
      entries: [good, good, { ...good, path: 'resources/secrets/namespaces/n/other.json' }, { ...good, apiVersion: 'apps/v1', path: good.path.replace('/s.json', '/t.json'), name: 't' }],
      skipped: {},
    };
    const problems = indexProblems(index);
    expect(problems).toEqual([
      `${good.path}: listed twice`,
      'resources/secrets/namespaces/n/other.json: expected path resources/secrets/namespaces/n/s.json',
      'resources/secrets/namespaces/n/t.json: apiVersion apps/v1 is not in group ""',
    ]);
    expect(countByResource(index.entries)).toEqual({ secrets: 4 });
  });
});
