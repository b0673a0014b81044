/**
 * Whether a Docker engine is reachable. Where it is, the harness uses testcontainers;
 * otherwise (these machines) it starts local processes. `GUSHEN_DR_TEST_LOCAL=1` forces local.
 */
let cached: Promise<boolean> | undefined;

export function dockerAvailable(): Promise<boolean> {
  if (process.env.GUSHEN_DR_TEST_LOCAL === '1') return Promise.resolve(false);
  cached ??= (async () => {
    try {
      const { getContainerRuntimeClient } = await import('testcontainers');
      const timeout = new Promise<never>((_, rej) => setTimeout(() => rej(new Error('timeout')), 5000).unref());
      await Promise.race([getContainerRuntimeClient(), timeout]);
      return true;
    } catch {
      return false;
    }
  })();
  return cached;
}
