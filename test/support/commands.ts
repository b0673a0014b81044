import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** Whether `cmd` is on PATH (tests that need a tool skip and say so without it). */
export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * A script exactly as docs/runbook.md has it: the ```bash block whose second line is `# <name>:` (the tests run the
 * documented text itself, so the runbook cannot drift from what is tested).
 */
export async function runbookScript(name: string): Promise<string> {
  const md = await readFile(new URL('../../docs/runbook.md', import.meta.url), 'utf8');
  const escaped = name.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
  const m = new RegExp('```bash\\n(#!/usr/bin/env bash\\n# ' + escaped + ':[\\s\\S]*?)```').exec(md);
  if (!m) throw new Error(`docs/runbook.md has no ${name} script block`);
  return m[1];
}
