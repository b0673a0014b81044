/**
 * `scheme://user:password@…` as a raw string. Used when the URL does not parse, or parses without a password
 * although the text has one: a password with an unencoded `/`, `?` or `#` makes the parser see a host and port
 * (`postgres://u:12#x@h`) where the userinfo was. Everything up to the last `@` is taken as the userinfo.
 */
const RAW_USERINFO = /^([a-z][a-z0-9+.-]*:\/\/[^:@/?#]*):.*@/is;
/** libpq's `password` and `sslpassword` connection parameters in a URL's query. */
const SECRET_PARAMS = /([?&](?:ssl)?password=)[^&]*/gi;

/** Removes credentials from a URL so it can be logged or shown in an error: the userinfo password and `?password=`. */
export function redactUrl(url: string): string {
  let out: string;
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    out = !u.username && !u.password && RAW_USERINFO.test(url) ? url.replace(RAW_USERINFO, '$1:***@') : u.toString();
  } catch {
    out = url.replace(RAW_USERINFO, '$1:***@');
  }
  return out.replace(SECRET_PARAMS, '$1***');
}

/** Replaces every occurrence of the given secret strings in a message. */
export function redactSecrets(message: string, secrets: Iterable<string | undefined>): string {
  let out = message;
  for (const s of secrets) {
    if (s && s.length >= 3) out = out.split(s).join('***');
  }
  return out;
}
