import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// The import rules of eslint/layers.js, run as `npm run lint` runs them, on planted files (never written to disk).
const eslint = new ESLint({ cwd: process.cwd() });
const lint = async (file: string, code: string) => {
  const [r] = await eslint.lintText(code, { filePath: file });
  return r.messages.filter((m) => m.ruleId === 'layers/imports').map((m) => m.message);
};

describe('layer rule (npm run lint)', () => {
  it.each([
    ['src/store/planted.ts', "import { listBackups } from '../repository/catalog.js';", /layers: src\/store may not import src\/repository/],
    ['src/util/planted.ts', "import type { Config } from '../config/schema.js';", /layers: src\/util may not import src\/config/],
    ['src/repository/planted.ts', "import { SOURCES } from '../sources/registry.js';", /layers: src\/repository may not import src\/sources/],
    ['src/sources/kube/planted.ts', "import { runRestore } from '../../engine/restore.js';", /layers: src\/sources may not import src\/engine/],
    ['src/engine/planted.ts', "const m = await import('../commands/common.js');", /layers: src\/engine may not import src\/commands/],
    ['src/sources/postgres/planted.ts', "import { redisSource } from '../redis/index.js';", /sources: src\/sources\/postgres may not import src\/sources\/redis/],
    ['src/sources/shared/planted.ts', "import { kubeSource } from '../kube/index.js';", /sources: src\/sources\/shared may not import src\/sources\/kube/],
    ['src/sources/redis/planted.ts', "import { SOURCES } from '../registry.js';", /sources: src\/sources\/redis may not import the registry/],
  ])('%s: %s is refused', async (file, code, message) => {
    expect(await lint(file, code)).toEqual([expect.stringMatching(message)]);
  });

  it.each([
    ['src/repository/planted.ts', "import { openStore } from '../store/open.js';"],
    ['src/sources/redis/planted.ts', "import { KubeClient } from '../shared/kube-client.js';"],
    ['src/sources/redis/planted.ts', "import type { Source } from '../source.js';"],
    ['src/sources/registry-planted.ts', "import { redisSource } from './redis/index.js';"],
    ['src/commands/planted.ts', "import { runRestore } from '../engine/restore.js';"],
    ['src/schedule/planted.ts', "import { pushMetrics } from '../observe/metrics.js';"],
  ])('%s: %s is allowed', async (file, code) => {
    expect(await lint(file, code)).toEqual([]);
  });
});
