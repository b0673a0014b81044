import { UsageError } from '../../util/errors.js';
import type { KubeIndexEntry } from './archive.js';

/** `--resource deployments.apps/ai-qtrd-web` or `configmaps/ai-qtrd-config`: one object, matched on the archive index. */
export function resourceFilter(spec: string | undefined): ((obj: any, entry: KubeIndexEntry) => boolean) | undefined {
  if (!spec) return undefined;
  const m = /^([a-z0-9-]+)(?:\.([a-z0-9.-]+))?\/([A-Za-z0-9.:@_-]+)$/.exec(spec);
  if (!m) throw new UsageError(`--resource ${spec}: expected <resource>[.<group>]/<name>, e.g. deployments.apps/ai-qtrd-web`);
  const [, resource, group = '', name] = m;
  return (_obj, entry) => entry.resource === resource && entry.group === group && entry.name === name;
}
