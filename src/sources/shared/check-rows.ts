import { errorMessage } from '../../util/errors.js';
import type { CheckRow } from '../source.js';

/** What one check's function returns: the ok detail, or a row's status and detail. */
export type CheckOutcome = string | { status: CheckRow['status']; detail: string };

/** Runs one check of `gushen-dr check`: its detail when `fn` returns, a `failed` row with the error when it throws. */
export async function checkRow(check: string, fn: () => Promise<CheckOutcome> | CheckOutcome): Promise<CheckRow> {
  try {
    const r = await fn();
    return typeof r === 'string' ? { check, status: 'ok', detail: r } : { check, ...r };
  } catch (err) {
    return { check, status: 'failed', detail: errorMessage(err) };
  }
}

export const skipped = (detail: string): CheckOutcome => ({ status: 'skipped', detail });
export const failed = (detail: string): CheckOutcome => ({ status: 'failed', detail });
