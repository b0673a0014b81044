import type { RestoreAction } from './types.js';
import { isRecord } from './types.js';

/**
 * ServiceAccounts: references to their auto-generated token Secrets (`<sa>-token-xxxxx`, not backed up) are
 * dropped; the token controller makes new ones where it still does.
 */
export const serviceAccountAction: RestoreAction = {
  name: 'service-account',
  appliesTo: (r) => r.group === '' && r.resource === 'serviceaccounts',
  transform(obj: any) {
    const name = obj.metadata?.name;
    if (!Array.isArray(obj.secrets) || typeof name !== 'string') return obj;
    const token = new RegExp(`^${name.replace(/[.]/g, '\\.')}-token-[a-z0-9]{5}$`);
    obj.secrets = obj.secrets.filter((s: any) => !(isRecord(s) && typeof s.name === 'string' && token.test(s.name)));
    if (obj.secrets.length === 0) delete obj.secrets;
    return obj;
  },
};
