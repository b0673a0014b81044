import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Most test files wait on servers and child processes, not the CPU: three at a time fit two cores.
    maxWorkers: 3,
    reporters: ['default', ['json', { outputFile: 'test-results.json' }]],
  },
});
