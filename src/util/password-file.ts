import { readFileSync } from 'node:fs';
import { UsageError, errorMessage } from './errors.js';

/**
 * A password from a file (`sources.postgres.passwordFile`, `--pg-password-file`, ...): the file's text as it is,
 * without percent-encoding (`#?/@:` are themselves), less one trailing newline. An empty file, or one with more
 * than one line, is refused. Errors name the file, never its content.
 */
export function readPasswordFile(path: string, what = 'password file'): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${what} ${path}: ${errorMessage(err)}`);
  }
  const password = text.replace(/\r?\n$/, '');
  if (password === '') throw new UsageError(`${what} ${path}: the file is empty`);
  if (/[\r\n]/.test(password)) throw new UsageError(`${what} ${path}: expected the password alone on one line`);
  return password;
}
