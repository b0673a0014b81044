/**
 * age uses RFC 4648 standard base64 WITHOUT padding, and requires canonical
 * encodings (unused trailing bits zero). Node's decoder is lenient, so decoding
 * re-encodes and compares.
 */
const B64_CHARS = /^[A-Za-z0-9+/]*$/;

export function b64encode(data: Uint8Array): string {
  const s = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 0x3d /* = */) end--;
  return s.slice(0, end);
}

/** Returns null unless `s` is a canonical, unpadded standard-base64 string. */
export function b64decode(s: string): Buffer | null {
  if (s.length % 4 === 1 || !B64_CHARS.test(s)) return null;
  const out = Buffer.from(s, 'base64');
  return b64encode(out) === s ? out : null;
}
