/**
 * A Kubernetes API server emulator for tests: plain HTTP, no auth, in-memory storage, a few
 * emulated controllers, pod exec over WebSocket and service proxying. See README.md.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { Api, render } from './api.js';
import { fixtureObjects, loadObjects, type FixtureName } from './fixtures/index.js';
import { makeKubeConfig, writeKubeconfig } from './kubeconfig.js';
import { Reconciler } from './reconciler.js';
import { Registry, splitApiVersion } from './registry.js';
import { EmulatorServer } from './server.js';
import { Store } from './store.js';
import { clone, type ExecHandler, type KubeObject, type ServiceProxyResolver } from './types.js';

export { GUSHEN_FIXTURE_SECRET_VALUES, GUSHEN_FIXTURE_SECRETS, GUSHEN_NAMESPACE } from './fixtures/gushen.js';
export { NEVER_READY_ANNOTATION } from './controllers/common.js';
export { localExecHandler } from './exec.js';
export type { ExecHandler, ExecRequest, ExecTarget, KubeObject, ServiceProxyResolver } from './types.js';
export type { FixtureName } from './fixtures/index.js';

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
}

export interface KubeEmulator {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Writes a kubeconfig with a single context named 'emulator'. */
  writeKubeconfig(file: string, namespace?: string): Promise<void>;
  /** A KubeConfig loaded for this server (context 'emulator'). */
  kubeConfig(): KubeConfig;
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
  loadObjects(api, fixtureObjects(opts.fixture ?? 'gushen'));
  if (opts.extraObjects) loadObjects(api, opts.extraObjects.map((o) => ({ ...o, metadata: { ...(o.metadata as KubeObject['metadata'] | undefined) } }) as KubeObject));
  const server = new EmulatorServer(api, { execHandler: opts.execHandler, serviceProxy: opts.serviceProxy, log: opts.log });
  const port = await server.listen(opts.port ?? 0);
  const url = `http://127.0.0.1:${port}`;
  const reconciler = new Reconciler(api, { intervalMs: opts.reconcileIntervalMs ?? 50, readyDelayMs: opts.readyDelayMs ?? 0 });
  reconciler.start();
  let stopped = false;
  return {
    url,
    writeKubeconfig: (file, namespace) => writeKubeconfig(file, url, namespace),
    kubeConfig: () => makeKubeConfig(url),
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
