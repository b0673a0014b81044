/**
 * Kubeconfig for the emulator (context `emulator`, no real credentials). client-node refuses plain
 * http:// servers unless `insecure-skip-tls-verify` is set, so it is.
 */
import { writeFile } from 'node:fs/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';

export const CONTEXT_NAME = 'emulator';

export function kubeconfigDocument(server: string, namespace = 'default'): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    clusters: [{ name: CONTEXT_NAME, cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: CONTEXT_NAME, user: { token: 'emulator-token' } }],
    contexts: [{ name: CONTEXT_NAME, context: { cluster: CONTEXT_NAME, user: CONTEXT_NAME, namespace } }],
    'current-context': CONTEXT_NAME,
  };
}

export async function writeKubeconfig(file: string, server: string, namespace?: string): Promise<void> {
  await writeFile(file, stringify(kubeconfigDocument(server, namespace)), { mode: 0o600 });
}

export function makeKubeConfig(server: string, namespace = 'default'): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: CONTEXT_NAME, server, skipTLSVerify: true }],
    users: [{ name: CONTEXT_NAME, token: 'emulator-token' }],
    contexts: [{ name: CONTEXT_NAME, cluster: CONTEXT_NAME, user: CONTEXT_NAME, namespace }],
    currentContext: CONTEXT_NAME,
  });
  return kc;
}
