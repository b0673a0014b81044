import { UsageError } from '../util/errors.js';
import type { Env } from './common.js';

export async function drillCommand(_env: Env, _o: { backup: string; keep?: boolean; keepOnFailure?: boolean; list?: boolean; identity?: string }): Promise<number> {
  throw new UsageError('drill: not implemented yet');
}
