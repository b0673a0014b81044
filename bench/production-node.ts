import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The Node flags production runs with, read from bin/gushen-dr.js's `#!/usr/bin/env -S node …` line (the
 * Dockerfile's ENTRYPOINT repeats them; test/integration/k8s-manifests.test.ts keeps the two equal), so that
 * benchmarks measure the process as it is deployed.
 */
export function productionNodeFlags(): string[] {
  const bin = readFileSync(fileURLToPath(new URL('../bin/gushen-dr.js', import.meta.url)), 'utf8');
  const m = /^#!\/usr\/bin\/env -S node((?: --[\w-]+(?:=\S+)?)*)\s*$/m.exec(bin.split('\n')[0]);
  if (!m) throw new Error('bin/gushen-dr.js: expected a first line "#!/usr/bin/env -S node [flags]"');
  return m[1].trim().split(/\s+/).filter(Boolean);
}
