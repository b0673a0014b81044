#!/usr/bin/env node
// Runs the built CLI (npm run build). Kept in JS so `npx gushen-dr` works without a TypeScript loader.
import('../dist/cli.js').then((m) => m.main(process.argv)).catch((err) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
