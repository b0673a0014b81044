/**
 * A Kubernetes API server emulator for tests: plain HTTP and no auth by default (opt-in HTTPS with
 * bearer-token authentication, RBAC and an audit log), in-memory storage, a few emulated
 * controllers, pod exec over WebSocket and service proxying. See README.md.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { AccessControl } from './access.js';
import { Api, render } from './api.js';
import { unusedRules, type AuditEntry, type RoleLike, type UnusedRule } from './audit.js';
import { fixtureObjects, loadObjects, type FixtureName } from './fixtures/index.js';
import { defaultRbacObjects } from './fixtures/rbac.js';
import { makeKubeConfig, writeKubeconfig } from './kubeconfig.js';
import { Reconciler } from './reconciler.js';
import { Registry, splitApiVersion } from './registry.js';
import { EmulatorServer } from './server.js';
import { Store } from './store.js';
import { selfSignedCert } from './tls.js';
import { clone, type ExecHandler, type KubeObject, type ServiceProxyResolver } from './types.js';

export { GUSHEN_FIXTURE_SECRET_VALUES, GUSHEN_FIXTURE_SECRETS, GUSHEN_NAMESPACE } from './fixtures/gushen.js';
export { NEVER_READY_ANNOTATION } from './controllers/common.js';
export { localExecHandler } from './exec.js';
export type { ExecHandler, ExecRequest, ExecTarget, KubeObject, ServiceProxyResolver } from './types.js';
export type { FixtureName } from './fixtures/index.js';
export { unusedRules } from './audit.js';
export type { AuditEntry, RoleLike, UnusedRule } from './audit.js';
export type { RuleRef } from './rbac.js';
export type { UserInfo } from './auth.js';
export { ADMIN_TOKEN, ADMIN_USER } from './auth.js';

export interface KubeEmulatorOptions {
  /** Port to listen on (127.0.0.1); 0 or undefined = random. */
  port?: number;
  /** Initial objects; default 'gushen'. Both include system namespaces, node(s) and the `kubernetes` service. */
  fixture?: FixtureName;
  /** Maps `pods/exec` to a local process; undefined result = container not found. Default: every exec fails that way. */
  execHandler?: ExecHandler;
  /** Maps `services/<svc>:<port>/proxy` to a local base URL; undefined = 503 no endpoints. */
  serviceProxy?: ServiceProxyResolver;
  /** Controller loop period (default 50 ms). */
  reconcileIntervalMs?: number;
  /** Pods become Running/Ready this long after creation (default 0). */
  readyDelayMs?: number;
  /** More objects to load after the fixture (e.g. a CRD and its resources); loaded like fixture objects. */
  extraObjects?: Array<Record<string, unknown>>;
  /** Logs each request line (for debugging clients). */
  log?: (line: string) => void;
  /**
   * Enforce authentication and RBAC like a real API server (default false: everyone is the admin).
   * The server then speaks HTTPS with a self-signed certificate (kubectl only sends tokens over TLS)
   * and the default discovery / basic-user ClusterRoles and bindings are loaded.
   */
  rbac?: boolean;
  /** Append every audit entry to this file as a JSON line (the log is kept in memory either way). */
  auditLogFile?: string;
}

export interface KubeconfigFor {
  /** Default namespace of the context (default 'default'). */
  namespace?: string;
  /** Bearer token (default: the admin token). */
  token?: string;
}

export interface KubeEmulator {
  /** http://127.0.0.1:PORT, or https:// with `rbac: true`. */
  url: string;
  /** Whether authentication and RBAC are enforced. */
  rbac: boolean;
  /** PEM certificate of the https:// server (also its own CA), undefined over http. */
  ca?: string;
  /** Writes a kubeconfig with a single context named 'emulator' (admin token unless `opts.token`). */
  writeKubeconfig(file: string, namespace?: string, opts?: { token?: string }): Promise<void>;
  /** A KubeConfig loaded for this server (context 'emulator'; admin token, namespace 'default' unless given). */
  kubeConfig(opts?: KubeconfigFor): KubeConfig;
  /** A bearer token for `system:serviceaccount:<namespace>:<name>`; valid while that ServiceAccount exists. */
  serviceAccountToken(namespace: string, name: string): string;
  /** A bearer token for a plain user with these groups (`system:authenticated` is added). */
  userToken(username: string, groups?: string[]): string;
  /** Every authorization check so far (deep copies), oldest first. */
  auditLog(): AuditEntry[];
  clearAuditLog(): void;
  /** The rules of these Roles/ClusterRoles (other kinds ignored) no allowed request in the audit log used. */
  unusedRules(roles: RoleLike[], audit?: AuditEntry[]): UnusedRule[];
  /** Deep copies of every stored object (with apiVersion/kind) for assertions. */
  objects(): Array<Record<string, any>>;
  /** One stored object (deep copy) or undefined. */
  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): any | undefined;
  /** Runs every controller once, synchronously (besides the timer); throws if a controller failed. */
  reconcile(): void;
  stop(): Promise<void>;
}

export async function startKubeEmulator(opts: KubeEmulatorOptions = {}): Promise<KubeEmulator> {
  const registry = new Registry();
  const store = new Store();
  const api = new Api(registry, store);
  loadObjects(api, [...fixtureObjects(opts.fixture ?? 'gushen'), ...(opts.rbac ? defaultRbacObjects() : [])]);
  if (opts.extraObjects) loadObjects(api, opts.extraObjects.map((o) => ({ ...o, metadata: { ...(o.metadata as KubeObject['metadata'] | undefined) } }) as KubeObject));
  const access = new AccessControl(store, { rbac: opts.rbac, auditLogFile: opts.auditLogFile });
  const tls = opts.rbac ? selfSignedCert() : undefined;
  const server = new EmulatorServer(api, access, { execHandler: opts.execHandler, serviceProxy: opts.serviceProxy, log: opts.log, tls });
  const port = await server.listen(opts.port ?? 0);
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const ca = tls?.cert;
  const reconciler = new Reconciler(api, { intervalMs: opts.reconcileIntervalMs ?? 50, readyDelayMs: opts.readyDelayMs ?? 0 });
  reconciler.start();
  let stopped = false;
  return {
    url,
    rbac: access.rbac,
    ca,
    writeKubeconfig: (file, namespace, o) => writeKubeconfig(file, url, { namespace, token: o?.token, ca }),
    kubeConfig: (o) => makeKubeConfig(url, { namespace: o?.namespace, token: o?.token, ca }),
    serviceAccountToken: (namespace, name) => access.authenticator.serviceAccountToken(namespace, name),
    userToken: (username, groups) => access.authenticator.userToken(username, groups),
    auditLog: () => access.audit.entries(),
    clearAuditLog: () => access.audit.clear(),
    unusedRules: (roles, audit) => unusedRules(audit ?? access.audit.entries(), roles),
    objects: () => {
      const out: KubeObject[] = [];
      for (const { group, resource, object } of store.entries()) {
        const def = registry.byResource(group, resource);
        out.push(def ? render(object, def) : clone(object));
      }
      return out;
    },
    get: (apiVersion, kind, namespace, name) => {
      const def = registry.byKind(splitApiVersion(apiVersion).group, kind);
      if (!def) return undefined;
      const o = api.find(def, namespace, name);
      return o ? render(o, def) : undefined;
    },
    reconcile: () => {
      const err = reconciler.runOnce();
      if (err) throw err;
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      reconciler.stop();
      await server.close();
    },
  };
}
