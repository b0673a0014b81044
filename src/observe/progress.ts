import cliProgress from 'cli-progress';
import type { ArtifactProgress } from '../repository/artifact-writer.js';

/** A bar per artifact on a TTY (bytes and MB/s); elsewhere nothing (JSON logs say what happened). */
export function createProgress(enabled: boolean): ArtifactProgress | undefined {
  if (!enabled) return undefined;
  const multi = new cliProgress.MultiBar(
    {
      format: ' {name} | {value_mib} MiB | {speed} MB/s',
      hideCursor: true,
      clearOnComplete: false,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, { bar: cliProgress.SingleBar; started: number }>();
  let active = 0;
  return {
    start(name) {
      active += 1;
      bars.set(name, { bar: multi.create(1, 0, { name: name.padEnd(24), value_mib: '0.0', speed: '0.0' }), started: Date.now() });
    },
    update(name, bytes) {
      const b = bars.get(name);
      if (!b) return;
      const secs = Math.max(0.001, (Date.now() - b.started) / 1000);
      b.bar.update(0, { value_mib: (bytes / 1048576).toFixed(1), speed: (bytes / 1e6 / secs).toFixed(1) });
    },
    finish(name) {
      bars.get(name)?.bar.stop();
      active -= 1;
      if (active === 0) multi.stop();
    },
  };
}
