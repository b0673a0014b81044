// The README's first command: a backup of the local PostgreSQL and Redis into ./backups (examples/local.yaml),
// then a deep verify of it and a local-mode recovery drill (throwaway PostgreSQL and Redis). Creates the local age key pair on first use.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const cli = (...args) => {
  console.error(`$ gushen-dr ${args.join(' ')}`);
  const r = spawnSync(process.execPath, ['bin/gushen-dr.js', ...args], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`gushen-dr ${args[0]} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
};

if (!existsSync('keys/local.key')) cli('keygen', '--out', 'keys/local.key', '--recipient-out', 'keys/local.pub');
cli('--config', 'examples/local.yaml', 'backup');
cli('--config', 'examples/local.yaml', 'verify', 'latest', '--deep');
cli('--config', 'examples/local.yaml', '--log-level', 'warn', 'drill');
cli('--config', 'examples/local.yaml', 'list');
