/**
 * Kubeconfig for the emulator (context `emulator`). Over plain http:// (RBAC off) client-node
 * refuses the server unless `insecure-skip-tls-verify` is set, so it is, and kubectl sends no token
 * at all (client-go only sends credentials over TLS). Over https:// (RBAC on) the emulator's
 * self-signed certificate is the `certificate-authority-data`, and the token is the admin's unless
 * another one is given (e.g. a ServiceAccount token).
 */
import { writeFile } from 'node:fs/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { ADMIN_TOKEN } from './auth.js';

export const CONTEXT_NAME = 'emulator';

export interface KubeconfigOptions {
  namespace?: string;
  /** Bearer token (default: the admin token). */
  token?: string;
  /** PEM CA certificate of an https:// server. */
  ca?: string;
}

export function kubeconfigDocument(server: string, opts: KubeconfigOptions = {}): Record<string, unknown> {
  const cluster: Record<string, unknown> = { server };
  if (opts.ca) cluster['certificate-authority-data'] = Buffer.from(opts.ca).toString('base64');
  else cluster['insecure-skip-tls-verify'] = true;
  return {
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    clusters: [{ name: CONTEXT_NAME, cluster }],
    users: [{ name: CONTEXT_NAME, user: { token: opts.token ?? ADMIN_TOKEN } }],
    contexts: [{ name: CONTEXT_NAME, context: { cluster: CONTEXT_NAME, user: CONTEXT_NAME, namespace: opts.namespace ?? 'default' } }],
    'current-context': CONTEXT_NAME,
  };
}

export async function writeKubeconfig(file: string, server: string, opts: KubeconfigOptions = {}): Promise<void> {
  await writeFile(file, stringify(kubeconfigDocument(server, opts)), { mode: 0o600 });
}

export function makeKubeConfig(server: string, opts: KubeconfigOptions = {}): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [opts.ca ? { name: CONTEXT_NAME, server, caData: Buffer.from(opts.ca).toString('base64'), skipTLSVerify: false } : { name: CONTEXT_NAME, server, skipTLSVerify: true }],
    users: [{ name: CONTEXT_NAME, token: opts.token ?? ADMIN_TOKEN }],
    contexts: [{ name: CONTEXT_NAME, cluster: CONTEXT_NAME, user: CONTEXT_NAME, namespace: opts.namespace ?? 'default' }],
    currentContext: CONTEXT_NAME,
  });
  return kc;
}
