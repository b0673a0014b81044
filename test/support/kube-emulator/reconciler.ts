/** Runs the emulated controllers on a timer. */
import type { Api } from './api.js';
import type { ControllerContext } from './controllers/common.js';
import { reconcileDaemonSets } from './controllers/daemonsets.js';
import { reconcileDeployments } from './controllers/deployments.js';
import { reconcileEndpoints } from './controllers/endpoints.js';
import { reconcileJobs } from './controllers/jobs.js';
import { reconcilePods } from './controllers/kubelet.js';
import { reconcileNamespaces } from './controllers/namespaces.js';
import { reconcileReplicaSets } from './controllers/replicasets.js';
import { reconcileStatefulSets } from './controllers/statefulsets.js';
import { reconcileVolumes } from './controllers/volumes.js';
import { sweepOrphans } from './gc.js';

export interface ReconcilerOptions {
  intervalMs: number;
  readyDelayMs: number;
}

const CONTROLLERS: Array<[string, (ctx: ControllerContext) => void]> = [
  ['namespaces', reconcileNamespaces],
  ['deployments', reconcileDeployments],
  ['replicasets', reconcileReplicaSets],
  ['statefulsets', reconcileStatefulSets],
  ['daemonsets', reconcileDaemonSets],
  ['jobs', reconcileJobs],
  ['volumes', reconcileVolumes],
  ['pods', reconcilePods],
  ['endpoints', reconcileEndpoints],
  ['garbage-collector', (ctx) => sweepOrphans(ctx.store)],
];

export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  /** The last error a controller threw (controllers keep running). */
  lastError: Error | undefined;

  constructor(
    private readonly api: Api,
    private readonly opts: ReconcilerOptions,
  ) {}

  private readonly reported = new Set<string>();

  /** One pass of every controller; returns the first controller error (the others still run). */
  runOnce(): Error | undefined {
    const ctx: ControllerContext = { api: this.api, store: this.api.store, registry: this.api.registry, readyDelayMs: this.opts.readyDelayMs, now: Date.now() };
    let first: Error | undefined;
    for (const [name, fn] of CONTROLLERS) {
      try {
        fn(ctx);
      } catch (e) {
        const err = new Error(`kube-emulator controller ${name}: ${(e as Error).message}`, { cause: e });
        this.lastError = err;
        first ??= err;
      }
    }
    return first;
  }

  private tick(): void {
    const err = this.runOnce();
    // A failing controller is an emulator bug: say so once per distinct message.
    if (err && !this.reported.has(err.message)) {
      this.reported.add(err.message);
      console.warn(err.message);
    }
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.opts.intervalMs);
    this.timer.unref();
    setImmediate(() => this.tick());
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
