/**
 * Decoding of `application/vnd.kubernetes.protobuf` request bodies. kubectl's typed
 * generators (`kubectl create configmap|secret|namespace|serviceaccount|role|...`) and its
 * access reviews (`kubectl auth can-i|whoami`) send protobuf; this decodes those kinds into
 * their JSON form. Other kinds get 415.
 */
import { ApiError } from './errors.js';
import type { Rec } from './types.js';

type Scalar = 'string' | 'bytes' | 'int' | 'bool' | 'time' | 'intOrString';
interface Field {
  name: string;
  type: Scalar | Schema | 'map' | 'bytesMap';
  repeated?: boolean;
}
interface Schema {
  [num: number]: Field;
}

const OwnerReference: Schema = {
  1: { name: 'kind', type: 'string' },
  3: { name: 'name', type: 'string' },
  4: { name: 'uid', type: 'string' },
  5: { name: 'apiVersion', type: 'string' },
  6: { name: 'controller', type: 'bool' },
  7: { name: 'blockOwnerDeletion', type: 'bool' },
};
const ObjectMeta: Schema = {
  1: { name: 'name', type: 'string' },
  2: { name: 'generateName', type: 'string' },
  3: { name: 'namespace', type: 'string' },
  5: { name: 'uid', type: 'string' },
  6: { name: 'resourceVersion', type: 'string' },
  7: { name: 'generation', type: 'int' },
  11: { name: 'labels', type: 'map' },
  12: { name: 'annotations', type: 'map' },
  13: { name: 'ownerReferences', type: OwnerReference, repeated: true },
  14: { name: 'finalizers', type: 'string', repeated: true },
};
const LocalObjectReference: Schema = { 1: { name: 'name', type: 'string' } };
const ObjectReference: Schema = {
  1: { name: 'kind', type: 'string' },
  2: { name: 'namespace', type: 'string' },
  3: { name: 'name', type: 'string' },
  4: { name: 'uid', type: 'string' },
  5: { name: 'apiVersion', type: 'string' },
  6: { name: 'resourceVersion', type: 'string' },
  7: { name: 'fieldPath', type: 'string' },
};
const PolicyRule: Schema = {
  1: { name: 'verbs', type: 'string', repeated: true },
  2: { name: 'apiGroups', type: 'string', repeated: true },
  3: { name: 'resources', type: 'string', repeated: true },
  4: { name: 'resourceNames', type: 'string', repeated: true },
  5: { name: 'nonResourceURLs', type: 'string', repeated: true },
};
const Subject: Schema = {
  1: { name: 'kind', type: 'string' },
  2: { name: 'apiGroup', type: 'string' },
  3: { name: 'name', type: 'string' },
  4: { name: 'namespace', type: 'string' },
};
const RoleRef: Schema = { 1: { name: 'apiGroup', type: 'string' }, 2: { name: 'kind', type: 'string' }, 3: { name: 'name', type: 'string' } };
const meta: Field = { name: 'metadata', type: ObjectMeta };
const LabelSelector: Schema = {
  1: { name: 'matchLabels', type: 'map' },
  2: { name: 'matchExpressions', type: { 1: { name: 'key', type: 'string' }, 2: { name: 'operator', type: 'string' }, 3: { name: 'values', type: 'string', repeated: true } }, repeated: true },
};
const ContainerPort: Schema = { 1: { name: 'name', type: 'string' }, 2: { name: 'hostPort', type: 'int' }, 3: { name: 'containerPort', type: 'int' }, 4: { name: 'protocol', type: 'string' }, 5: { name: 'hostIP', type: 'string' } };
const EnvVar: Schema = { 1: { name: 'name', type: 'string' }, 2: { name: 'value', type: 'string' } };
const Container: Schema = {
  1: { name: 'name', type: 'string' },
  2: { name: 'image', type: 'string' },
  3: { name: 'command', type: 'string', repeated: true },
  4: { name: 'args', type: 'string', repeated: true },
  5: { name: 'workingDir', type: 'string' },
  6: { name: 'ports', type: ContainerPort, repeated: true },
  7: { name: 'env', type: EnvVar, repeated: true },
  14: { name: 'imagePullPolicy', type: 'string' },
};
/** Only the fields `kubectl create deployment` sets. */
const PodSpec: Schema = {
  2: { name: 'containers', type: Container, repeated: true },
  3: { name: 'restartPolicy', type: 'string' },
};
const PodTemplateSpec: Schema = { 1: meta, 2: { name: 'spec', type: PodSpec } };
const ServicePort: Schema = {
  1: { name: 'name', type: 'string' },
  2: { name: 'protocol', type: 'string' },
  3: { name: 'port', type: 'int' },
  4: { name: 'targetPort', type: 'intOrString' },
  5: { name: 'nodePort', type: 'int' },
};
const binding: Schema = { 1: meta, 2: { name: 'subjects', type: Subject, repeated: true }, 3: { name: 'roleRef', type: RoleRef } };
const ResourceAttributes: Schema = {
  1: { name: 'namespace', type: 'string' },
  2: { name: 'verb', type: 'string' },
  3: { name: 'group', type: 'string' },
  4: { name: 'version', type: 'string' },
  5: { name: 'resource', type: 'string' },
  6: { name: 'subresource', type: 'string' },
  7: { name: 'name', type: 'string' },
};
const NonResourceAttributes: Schema = { 1: { name: 'path', type: 'string' }, 2: { name: 'verb', type: 'string' } };
const accessAttributes: Schema = { 1: { name: 'resourceAttributes', type: ResourceAttributes }, 2: { name: 'nonResourceAttributes', type: NonResourceAttributes } };
/** SubjectAccessReviewSpec (the `extra` map of ExtraValue is not decoded). */
const subjectAccessReview: Schema = {
  1: meta,
  2: { name: 'spec', type: { ...accessAttributes, 3: { name: 'user', type: 'string' }, 4: { name: 'groups', type: 'string', repeated: true }, 6: { name: 'uid', type: 'string' } } },
};

const SCHEMAS: Record<string, Schema> = {
  'v1/ConfigMap': { 1: meta, 2: { name: 'data', type: 'map' }, 3: { name: 'binaryData', type: 'bytesMap' }, 4: { name: 'immutable', type: 'bool' } },
  'v1/Secret': { 1: meta, 2: { name: 'data', type: 'bytesMap' }, 3: { name: 'type', type: 'string' }, 4: { name: 'stringData', type: 'map' }, 5: { name: 'immutable', type: 'bool' } },
  'v1/Namespace': { 1: meta, 2: { name: 'spec', type: { 1: { name: 'finalizers', type: 'string', repeated: true } } } },
  'v1/ServiceAccount': {
    1: meta,
    2: { name: 'secrets', type: ObjectReference, repeated: true },
    3: { name: 'imagePullSecrets', type: LocalObjectReference, repeated: true },
    4: { name: 'automountServiceAccountToken', type: 'bool' },
  },
  'apps/v1/Deployment': {
    1: meta,
    2: {
      name: 'spec',
      type: {
        1: { name: 'replicas', type: 'int' },
        2: { name: 'selector', type: LabelSelector },
        3: { name: 'template', type: PodTemplateSpec },
        4: { name: 'strategy', type: { 1: { name: 'type', type: 'string' } } },
        5: { name: 'minReadySeconds', type: 'int' },
        6: { name: 'revisionHistoryLimit', type: 'int' },
        7: { name: 'paused', type: 'bool' },
        9: { name: 'progressDeadlineSeconds', type: 'int' },
      },
    },
  },
  'v1/Service': {
    1: meta,
    2: {
      name: 'spec',
      type: {
        1: { name: 'ports', type: ServicePort, repeated: true },
        2: { name: 'selector', type: 'map' },
        3: { name: 'clusterIP', type: 'string' },
        4: { name: 'type', type: 'string' },
        10: { name: 'externalName', type: 'string' },
      },
    },
  },
  'rbac.authorization.k8s.io/v1/Role': { 1: meta, 2: { name: 'rules', type: PolicyRule, repeated: true } },
  'rbac.authorization.k8s.io/v1/ClusterRole': { 1: meta, 2: { name: 'rules', type: PolicyRule, repeated: true } },
  'rbac.authorization.k8s.io/v1/RoleBinding': binding,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': binding,
  // Reviews (kubectl auth can-i / whoami); status is never read.
  'authorization.k8s.io/v1/SelfSubjectAccessReview': { 1: meta, 2: { name: 'spec', type: accessAttributes } },
  'authorization.k8s.io/v1/SubjectAccessReview': subjectAccessReview,
  'authorization.k8s.io/v1/LocalSubjectAccessReview': subjectAccessReview,
  'authorization.k8s.io/v1/SelfSubjectRulesReview': { 1: meta, 2: { name: 'spec', type: { 1: { name: 'namespace', type: 'string' } } } },
  'authentication.k8s.io/v1/SelfSubjectReview': { 1: meta },
  'authentication.k8s.io/v1/TokenReview': { 1: meta, 2: { name: 'spec', type: { 1: { name: 'token', type: 'string' }, 2: { name: 'audiences', type: 'string', repeated: true } } } },
};

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = this.buf[this.pos++];
      if (b === undefined) throw new Error('truncated varint');
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  }
  bytes(): Buffer {
    const len = Number(this.varint());
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

function decodeTime(buf: Buffer): string {
  const r = new Reader(buf);
  let seconds = 0n;
  while (!r.done) {
    const tag = Number(r.varint());
    if (tag >> 3 === 1 && (tag & 7) === 0) seconds = r.varint();
    else r.skip(tag & 7);
  }
  return new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function decodeEntry(buf: Buffer): [string, Buffer] {
  const r = new Reader(buf);
  let key = '';
  let value = Buffer.alloc(0);
  while (!r.done) {
    const tag = Number(r.varint());
    if ((tag & 7) !== 2) {
      r.skip(tag & 7);
      continue;
    }
    if (tag >> 3 === 1) key = r.bytes().toString('utf8');
    else if (tag >> 3 === 2) value = Buffer.from(r.bytes());
    else r.skip(2);
  }
  return [key, value];
}

function decodeMessage(buf: Buffer, schema: Schema): Rec {
  const out: Rec = {};
  const r = new Reader(buf);
  while (!r.done) {
    const tag = Number(r.varint());
    const field = schema[tag >> 3];
    const wire = tag & 7;
    if (!field) {
      r.skip(wire);
      continue;
    }
    let value: unknown;
    if (field.type === 'map' || field.type === 'bytesMap') {
      const [k, v] = decodeEntry(r.bytes());
      const m = (out[field.name] as Record<string, string> | undefined) ?? {};
      m[k] = field.type === 'map' ? v.toString('utf8') : v.toString('base64');
      out[field.name] = m;
      continue;
    }
    if (field.type === 'int') value = Number(r.varint());
    else if (field.type === 'bool') value = r.varint() !== 0n;
    else if (field.type === 'string') value = r.bytes().toString('utf8');
    else if (field.type === 'bytes') value = r.bytes().toString('base64');
    else if (field.type === 'time') value = decodeTime(r.bytes());
    else if (field.type === 'intOrString') {
      const v = decodeMessage(r.bytes(), { 1: { name: 'type', type: 'int' }, 2: { name: 'intVal', type: 'int' }, 3: { name: 'strVal', type: 'string' } });
      value = v.type === 1 ? v.strVal : (v.intVal ?? 0);
    }
    else value = decodeMessage(r.bytes(), field.type);
    if (field.repeated) out[field.name] = [...((out[field.name] as unknown[] | undefined) ?? []), value];
    else if (value === '' || value === false || (value === 0 && field.name !== 'replicas')) delete out[field.name]; // Go's omitempty
    else out[field.name] = value;
  }
  return out;
}

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

export function isProtobuf(contentType: string | undefined): boolean {
  return (contentType ?? '').toLowerCase().startsWith('application/vnd.kubernetes.protobuf');
}

/** Decodes a `k8s\0`-prefixed runtime.Unknown envelope into a JSON object. */
export function decodeProtobufObject(body: Buffer): Rec {
  if (!body.subarray(0, 4).equals(MAGIC)) throw new ApiError(400, 'BadRequest', 'protobuf body without the k8s envelope');
  const r = new Reader(body.subarray(4));
  let apiVersion = '';
  let kind = '';
  let raw = Buffer.alloc(0);
  while (!r.done) {
    const tag = Number(r.varint());
    if (tag >> 3 === 1 && (tag & 7) === 2) {
      const tm = decodeMessage(r.bytes(), { 1: { name: 'apiVersion', type: 'string' }, 2: { name: 'kind', type: 'string' } });
      apiVersion = String(tm.apiVersion ?? '');
      kind = String(tm.kind ?? '');
    } else if (tag >> 3 === 2 && (tag & 7) === 2) raw = Buffer.from(r.bytes());
    else r.skip(tag & 7);
  }
  const schema = SCHEMAS[`${apiVersion}/${kind}`];
  if (!schema) {
    throw new ApiError(415, 'UnsupportedMediaType', `the emulator cannot decode protobuf ${apiVersion} ${kind}; send JSON (e.g. \`kubectl create ... --dry-run=client -o json | kubectl create -f -\`)`);
  }
  return { apiVersion, kind, ...decodeMessage(raw, schema) };
}
