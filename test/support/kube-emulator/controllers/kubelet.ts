/** Scheduler + kubelet stand-in: binds pods to nodes and moves them to Running / Ready (or Succeeded for Job pods). */
import { createHash } from 'node:crypto';
import { arr, clone, rec, str, timestamp, type KubeObject, type Rec } from '../types.js';
import { conditions, def, isTerminal, neverReady, setStatus, writeObject, type Condition, type ControllerContext } from './common.js';
import { nodeInternalIp, pickNode } from './scheduling.js';

function hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

function nextPodIp(ctx: ControllerContext): string {
  const used = new Set(ctx.store.list('', 'pods').map((p) => str(rec(p.status).podIP)));
  for (let n = 0; n < 65000; n++) {
    const ip = `10.42.${Math.floor(n / 250)}.${(n % 250) + 2}`;
    if (!used.has(ip)) return ip;
  }
  return '10.42.255.254';
}

function claimsBound(ctx: ControllerContext, pod: KubeObject): boolean {
  return arr(rec(pod.spec).volumes).every((v) => {
    const claim = str(rec(rec(v).persistentVolumeClaim).claimName);
    if (!claim) return true;
    const pvc = ctx.store.get('', 'persistentvolumeclaims', pod.metadata.namespace, claim);
    return rec(pvc?.status).phase === 'Bound';
  });
}

/** nodeAffinity terms of the PVs bound to the pod's claims (local volumes pin pods to nodes). */
function volumeTerms(ctx: ControllerContext, pod: KubeObject): unknown[][] {
  const out: unknown[][] = [];
  for (const v of arr(rec(pod.spec).volumes)) {
    const claim = str(rec(rec(v).persistentVolumeClaim).claimName);
    if (!claim) continue;
    const pvName = str(rec(ctx.store.get('', 'persistentvolumeclaims', pod.metadata.namespace, claim)?.spec).volumeName);
    const pv = pvName ? ctx.store.get('', 'persistentvolumes', undefined, pvName) : undefined;
    const terms = arr(rec(rec(rec(pv?.spec).nodeAffinity).required).nodeSelectorTerms);
    if (terms.length) out.push(terms);
  }
  return out;
}

function isJobPod(pod: KubeObject): boolean {
  return (pod.metadata.ownerReferences ?? []).some((r) => r.kind === 'Job' && r.controller === true);
}

function containerStatus(pod: KubeObject, c: Rec, state: Rec, ready: boolean): Rec {
  const image = str(c.image) ?? '';
  const name = str(c.name) ?? '';
  const repo = image.includes('/') ? image.split(':')[0] : `docker.io/library/${image.split(':')[0] ?? ''}`;
  return {
    name,
    state,
    lastState: {},
    ready,
    restartCount: 0,
    image: image.includes('/') || image.includes('.') ? image : `docker.io/library/${image}`,
    imageID: `${repo}@sha256:${hex(image)}`,
    containerID: `containerd://${hex(`${pod.metadata.uid ?? ''}/${name}`)}`,
    started: state.running !== undefined,
  };
}

export function reconcilePods(ctx: ControllerContext): void {
  const podDef = def(ctx, '', 'pods');
  const nodes = ctx.store.list('', 'nodes');
  for (const pod of ctx.store.list('', 'pods')) {
    if (isTerminal(pod)) continue;
    const spec = rec(pod.spec);
    const status = rec(pod.status);
    const containers = arr(spec.containers).map(rec);
    let nodeName = str(spec.nodeName);
    if (!nodeName) {
      const node = pickNode(spec, nodes, volumeTerms(ctx, pod));
      if (!node) {
        setStatus(ctx, podDef, pod, {
          ...clone(status),
          phase: 'Pending',
          conditions: conditions(status.conditions, [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: `0/${nodes.length} nodes are available: ${nodes.length} node(s) didn't match Pod's node affinity/selector.` }]),
        });
        continue;
      }
      nodeName = node.metadata.name ?? '';
      writeObject(ctx, podDef, { ...clone(pod), spec: { ...clone(spec), nodeName } });
    }
    const node = nodes.find((n) => n.metadata.name === nodeName);
    const created = ctx.store.createdAtMs(pod.metadata.uid) ?? ctx.now;
    const started = claimsBound(ctx, pod) && ctx.now - created >= ctx.readyDelayMs;
    const never = neverReady(ctx, pod);
    const now = timestamp();
    const base: Rec = { qosClass: status.qosClass ?? 'BestEffort', hostIP: nodeInternalIp(node) ?? '10.0.0.1' };
    base.hostIPs = [{ ip: base.hostIP }];
    const sched: Condition = { type: 'PodScheduled', status: 'True' };
    if (!started) {
      setStatus(ctx, podDef, pod, {
        ...base,
        phase: 'Pending',
        conditions: conditions(status.conditions, [
          { type: 'PodReadyToStartContainers', status: 'False' },
          { type: 'Initialized', status: 'True' },
          { type: 'Ready', status: 'False', reason: 'ContainersNotReady', message: `containers with unready status: [${containers.map((c) => str(c.name)).join(' ')}]` },
          { type: 'ContainersReady', status: 'False', reason: 'ContainersNotReady', message: `containers with unready status: [${containers.map((c) => str(c.name)).join(' ')}]` },
          sched,
        ]),
        containerStatuses: containers.map((c) => containerStatus(pod, c, { waiting: { reason: 'ContainerCreating' } }, false)),
        startTime: status.startTime ?? now,
      });
      continue;
    }
    const podIP = str(status.podIP) ?? nextPodIp(ctx);
    const startedAt = str(rec(rec(rec(arr(status.containerStatuses)[0]).state).running).startedAt) ?? now;
    if (isJobPod(pod) && !never) {
      const finishedAt = now;
      setStatus(ctx, podDef, pod, {
        ...base,
        phase: 'Succeeded',
        podIP,
        podIPs: [{ ip: podIP }],
        startTime: status.startTime ?? now,
        conditions: conditions(status.conditions, [
          { type: 'PodReadyToStartContainers', status: 'False' },
          { type: 'Initialized', status: 'True', reason: 'PodCompleted' },
          { type: 'Ready', status: 'False', reason: 'PodCompleted' },
          { type: 'ContainersReady', status: 'False', reason: 'PodCompleted' },
          sched,
        ]),
        containerStatuses: containers.map((c) => containerStatus(pod, c, { terminated: { exitCode: 0, reason: 'Completed', startedAt, finishedAt } }, false)),
      });
      continue;
    }
    const ready = !never;
    const readyCond: Condition = ready ? { type: 'Ready', status: 'True' } : { type: 'Ready', status: 'False', reason: 'ContainersNotReady', message: `containers with unready status: [${containers.map((c) => str(c.name)).join(' ')}]` };
    setStatus(ctx, podDef, pod, {
      ...base,
      phase: 'Running',
      podIP,
      podIPs: [{ ip: podIP }],
      startTime: status.startTime ?? now,
      conditions: conditions(status.conditions, [
        { type: 'PodReadyToStartContainers', status: 'True' },
        { type: 'Initialized', status: 'True' },
        readyCond,
        { ...readyCond, type: 'ContainersReady' },
        sched,
      ]),
      containerStatuses: containers.map((c) => containerStatus(pod, c, { running: { startedAt } }, ready)),
    });
  }
}
