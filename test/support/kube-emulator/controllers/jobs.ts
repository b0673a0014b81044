/** Job controller: runs pods until `completions` succeeded (pods "succeed" after readyDelayMs). */
import { arr, num, randomSuffix, rec, str, timestamp } from '../types.js';
import { conditions, create, def, omitEmpty, ownedBy, ownerRef, podFromTemplate, setStatus, type ControllerContext } from './common.js';

export function reconcileJobs(ctx: ControllerContext): void {
  const jobDef = def(ctx, 'batch', 'jobs');
  const podDef = def(ctx, '', 'pods');
  for (const job of ctx.store.list('batch', 'jobs')) {
    const spec = rec(job.spec);
    const status = rec(job.status);
    if (arr(status.conditions).some((c) => ['Complete', 'Failed'].includes(str(rec(c).type) ?? '') && rec(c).status === 'True')) continue;
    if (spec.suspend === true) continue;
    const completions = num(spec.completions) ?? 1;
    const parallelism = num(spec.parallelism) ?? 1;
    const pods = ownedBy(ctx, '', 'pods', job);
    const succeeded = pods.filter((p) => rec(p.status).phase === 'Succeeded').length;
    const failed = pods.filter((p) => rec(p.status).phase === 'Failed').length;
    let active = pods.filter((p) => !['Succeeded', 'Failed'].includes(str(rec(p.status).phase) ?? '')).length;
    const name = job.metadata.name ?? '';
    while (active < Math.min(parallelism, completions - succeeded)) {
      const pod = podFromTemplate(spec.template, `${name}-${randomSuffix(5)}`, job.metadata.namespace, ownerRef(job, jobDef));
      if (!create(ctx, podDef, pod)) break;
      active++;
    }
    const now = timestamp();
    const done = succeeded >= completions;
    const next = omitEmpty({
      startTime: status.startTime ?? now,
      active: done ? 0 : active,
      succeeded,
      failed,
      ready: 0,
      terminating: 0,
      uncountedTerminatedPods: {},
    });
    if (done) {
      next.completionTime = now;
      next.conditions = conditions(status.conditions, [
        { type: 'SuccessCriteriaMet', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' },
        { type: 'Complete', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' },
      ]);
    }
    next.ready = 0;
    next.terminating = 0;
    setStatus(ctx, jobDef, job, next);
  }
}
