import { UsageError } from '../util/errors.js';
import type { Env } from './common.js';

export async function scheduleCommand(_env: Env): Promise<number> {
  throw new UsageError('schedule: not implemented yet');
}
