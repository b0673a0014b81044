import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/** The path of `cmd` (a name looked up on PATH, or a path), or undefined when it is not an executable file. */
export function findExecutable(cmd: string, path = process.env.PATH ?? ''): string | undefined {
  const candidates = cmd.includes('/') ? [cmd] : path.split(delimiter).filter(isAbsolute).map((d) => join(d, cmd));
  return candidates.find((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
