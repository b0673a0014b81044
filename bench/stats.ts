/** Repeated measurements on a noisy machine. */

/** Runs `fn` `n` times and returns the fastest run (the machine's noise only ever adds time). */
export async function bestOf<T extends { seconds: number }>(n: number, fn: () => Promise<T>): Promise<T> {
  if (n > 10) throw new Error('--runs: at most 10');
  let best: T | undefined;
  for (let i = 0; i < n; i++) {
    const r = await fn();
    if (!best || r.seconds < best.seconds) best = r;
  }
  return best!;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
