#!/usr/bin/env -S node --max-semi-space-size=1
// Runs the built CLI (npm run build). Kept in JS so `npx gushen-dr` works without a TypeScript loader.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(
    `gushen-dr needs Node.js 24 or newer (this is ${process.version}). In this repository run it as \`npx gushen-dr\`, which uses the project's Node 24.`,
  );
  process.exit(2);
}
import('../dist/cli.js').then((m) => m.main(process.argv)).catch((err) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
