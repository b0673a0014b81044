import { fillVars, type DrillContext, type RestoreAction } from './types.js';

const SCALED = new Set(['Deployment', 'StatefulSet', 'ReplicaSet']);
const TEMPLATED = new Set(['Deployment', 'StatefulSet', 'ReplicaSet', 'DaemonSet', 'Job']);

/** One replica of everything: a drill proves the service comes up, not its capacity. */
export const oneReplicaAction: RestoreAction = {
  name: 'drill-one-replica',
  appliesTo: (r) => SCALED.has(r.kind),
  transform(obj: any) {
    if (obj.spec && typeof obj.spec.replicas === 'number' && obj.spec.replicas > 1) obj.spec.replicas = 1;
    return obj;
  },
};

/** Autoscalers would scale the drill back up. */
export const noAutoscalerAction: RestoreAction = {
  name: 'drill-no-autoscalers',
  appliesTo: (r) => r.kind === 'HorizontalPodAutoscaler',
  transform: () => null,
};

function podSpecOf(obj: any): any {
  if (obj.kind === 'CronJob') return obj.spec?.jobTemplate?.spec?.template?.spec;
  return obj.spec?.template?.spec;
}

/** Points the apps at the drill's database and Redis: configured env vars get drill values in every container. */
export function envAction(d: DrillContext): RestoreAction {
  return {
    name: 'drill-env',
    appliesTo: (r) => Object.keys(d.env).length > 0 && (TEMPLATED.has(r.kind) || r.kind === 'CronJob'),
    transform(obj: any) {
      const spec = podSpecOf(obj);
      for (const c of [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])]) {
        for (const [name, template] of Object.entries(d.env)) {
          const value = fillVars(template, d.vars);
          const env: any[] = (c.env ??= []);
          const existing = env.find((e) => e?.name === name);
          if (existing) {
            existing.value = value;
            delete existing.valueFrom;
          } else {
            env.push({ name, value });
          }
        }
      }
      return obj;
    },
  };
}

/** Rewrites configured Secret keys (e.g. DATABASE_URL in ai-qtrd-secrets) to drill values. */
export function secretDataAction(d: DrillContext): RestoreAction {
  return {
    name: 'drill-secret-data',
    appliesTo: (r) => r.kind === 'Secret',
    transform(obj: any) {
      const rewrites = d.secretData[obj.metadata?.name];
      if (!rewrites) return obj;
      obj.data ??= {};
      for (const [k, template] of Object.entries(rewrites)) obj.data[k] = Buffer.from(fillVars(template, d.vars)).toString('base64');
      return obj;
    },
  };
}

/** A claim bound to a production volume would never bind in the drill: let the cluster provision a fresh one. */
export const freshVolumeAction: RestoreAction = {
  name: 'drill-fresh-volumes',
  appliesTo: (r) => r.kind === 'PersistentVolumeClaim',
  transform(obj: any) {
    if (obj.spec) delete obj.spec.volumeName;
    return obj;
  },
};
