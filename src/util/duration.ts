/**
 * Durations as config writes them: one or more `<number><unit>` with unit `h` (hours), `d` (days) or `w` (weeks),
 * e.g. `36h`, `7d`, `2w3d`. No months or years: their length varies, and a retention window should mean the same
 * number of hours every time it is read.
 */
export const DURATION_RE = /^(?:\d{1,5}[hdw])+$/;

const UNIT_MS = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 } as const;

/** Milliseconds of a duration, or undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  if (!DURATION_RE.test(text)) return undefined;
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)([hdw])/g)) ms += Number(n) * UNIT_MS[unit as keyof typeof UNIT_MS];
  return ms > 0 ? ms : undefined;
}
