import type { Logger } from '../util/log.js';
import { redactUrl } from '../util/redact.js';

/** POSTs a JSON summary to the configured webhook. Never throws: a notification problem is logged. */
export async function notifyWebhook(url: string | undefined, body: Record<string, unknown>, log: Logger): Promise<boolean> {
  if (!url) return false;
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    if (!res.ok) {
      log.error({ webhook: redactUrl(url), status: res.status }, 'webhook answered with an error');
      return false;
    }
    return true;
  } catch (err) {
    log.error({ webhook: redactUrl(url), err: (err as Error).message }, 'could not call the webhook');
    return false;
  }
}
