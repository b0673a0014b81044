/** Removes credentials from a URL so it can be logged or shown in an error. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
  }
}

/** Replaces every occurrence of the given secret strings in a message. */
export function redactSecrets(message: string, secrets: Iterable<string>): string {
  let out = message;
  for (const s of secrets) {
    if (s && s.length >= 3) out = out.split(s).join('***');
  }
  return out;
}
