/** PV controller + a local-path style provisioner: binds PVCs to (dynamically created) PVs. */
import { arr, clone, rec, str, strMap, type KubeObject } from '../types.js';
import { create, def, remove, setStatus, writeObject, type ControllerContext } from './common.js';

function podUsingClaim(ctx: ControllerContext, pvc: KubeObject): KubeObject | undefined {
  return ctx.store
    .list('', 'pods', pvc.metadata.namespace)
    .find((p) => str(rec(p.spec).nodeName) && arr(rec(p.spec).volumes).some((v) => rec(rec(v).persistentVolumeClaim).claimName === pvc.metadata.name));
}

function bind(ctx: ControllerContext, pvc: KubeObject, pv: KubeObject, provisioner: string | undefined, node: string | undefined): void {
  const pvDef = def(ctx, '', 'persistentvolumes');
  const pvcDef = def(ctx, '', 'persistentvolumeclaims');
  const pvSpec = rec(pv.spec);
  if (!pvSpec.claimRef || rec(pvSpec.claimRef).uid !== pvc.metadata.uid) {
    writeObject(ctx, pvDef, {
      ...clone(pv),
      metadata: { ...clone(pv.metadata), annotations: { ...strMap(pv.metadata.annotations), 'pv.kubernetes.io/bound-by-controller': 'yes' } },
      spec: { ...clone(pvSpec), claimRef: { kind: 'PersistentVolumeClaim', namespace: pvc.metadata.namespace, name: pvc.metadata.name, uid: pvc.metadata.uid, apiVersion: 'v1', resourceVersion: pvc.metadata.resourceVersion } },
    });
  }
  setStatus(ctx, pvDef, pv, { phase: 'Bound' });
  const ann: Record<string, string> = { ...strMap(pvc.metadata.annotations), 'pv.kubernetes.io/bind-completed': 'yes', 'pv.kubernetes.io/bound-by-controller': 'yes' };
  if (provisioner) {
    ann['volume.beta.kubernetes.io/storage-provisioner'] = provisioner;
    ann['volume.kubernetes.io/storage-provisioner'] = provisioner;
  }
  if (node) ann['volume.kubernetes.io/selected-node'] = node;
  writeObject(ctx, pvcDef, { ...clone(pvc), metadata: { ...clone(pvc.metadata), annotations: ann }, spec: { ...clone(rec(pvc.spec)), volumeName: pv.metadata.name } });
  setStatus(ctx, pvcDef, pvc, { phase: 'Bound', accessModes: clone(rec(pv.spec).accessModes ?? rec(pvc.spec).accessModes), capacity: clone(rec(pv.spec).capacity ?? rec(rec(pvc.spec).resources).requests) });
}

export function reconcileVolumes(ctx: ControllerContext): void {
  const pvDef = def(ctx, '', 'persistentvolumes');
  for (const pvc of ctx.store.list('', 'persistentvolumeclaims')) {
    if (rec(pvc.status).phase === 'Bound') continue;
    const spec = rec(pvc.spec);
    const volumeName = str(spec.volumeName);
    if (volumeName) {
      const pv = ctx.store.get('', 'persistentvolumes', undefined, volumeName);
      const ref = rec(pv?.spec).claimRef;
      const refUid = str(rec(ref).uid);
      // A PV still claimed by another (e.g. deleted) claim's uid stays unavailable, as in a real cluster.
      if (pv && (!ref || (rec(ref).name === pvc.metadata.name && rec(ref).namespace === pvc.metadata.namespace && (!refUid || refUid === pvc.metadata.uid)))) bind(ctx, pvc, pv, undefined, undefined);
      continue;
    }
    const scName = str(spec.storageClassName);
    const sc = scName ? ctx.store.get('storage.k8s.io', 'storageclasses', undefined, scName) : undefined;
    if (!sc) continue;
    let node: string | undefined;
    if (sc.volumeBindingMode === 'WaitForFirstConsumer') {
      const pod = podUsingClaim(ctx, pvc);
      if (!pod) continue;
      node = str(rec(pod.spec).nodeName);
    }
    const name = `pvc-${pvc.metadata.uid ?? ''}`;
    const provisioner = str(sc.provisioner) ?? 'rancher.io/local-path';
    let pv = ctx.store.get('', 'persistentvolumes', undefined, name);
    if (!pv) {
      const pvSpec: Record<string, unknown> = {
        capacity: { storage: str(rec(rec(spec.resources).requests).storage) ?? '1Gi' },
        accessModes: clone(spec.accessModes ?? ['ReadWriteOnce']),
        persistentVolumeReclaimPolicy: str(sc.reclaimPolicy) ?? 'Delete',
        storageClassName: scName,
        volumeMode: spec.volumeMode ?? 'Filesystem',
        hostPath: { path: `/var/lib/rancher/k3s/storage/${name}_${pvc.metadata.namespace ?? ''}_${pvc.metadata.name ?? ''}`, type: 'DirectoryOrCreate' },
      };
      if (node) pvSpec.nodeAffinity = { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] }] } };
      const annotations: Record<string, string> = { 'pv.kubernetes.io/provisioned-by': provisioner };
      if (node) annotations['local.path.provisioner/selected-node'] = node;
      pv = create(ctx, pvDef, { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name, annotations }, spec: pvSpec });
    }
    if (pv) bind(ctx, pvc, pv, provisioner, node);
  }
  // Released volumes: delete (reclaimPolicy Delete) or mark Released.
  for (const pv of ctx.store.list('', 'persistentvolumes')) {
    const ref = rec(rec(pv.spec).claimRef);
    if (!str(ref.name) || rec(pv.status).phase !== 'Bound') continue;
    const pvc = ctx.store.get('', 'persistentvolumeclaims', str(ref.namespace), str(ref.name) ?? '');
    if (pvc && (!str(ref.uid) || pvc.metadata.uid === ref.uid)) continue;
    if (rec(pv.spec).persistentVolumeReclaimPolicy === 'Delete') remove(ctx, pvDef, pv);
    else setStatus(ctx, pvDef, pv, { phase: 'Released' });
  }
}
