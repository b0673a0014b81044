/**
 * The age v1 text header: version line, recipient stanzas and the MAC line.
 *
 *   age-encryption.org/v1
 *   -> X25519 <base64 share>
 *   <base64 body, wrapped at 64 columns, last line shorter than 64>
 *   --- <base64 HMAC-SHA256>
 */
import { timingSafeEqual } from 'node:crypto';
import { b64decode, b64encode } from './base64.js';
import { AgeError } from './errors.js';
import { hkdf32, hmacSha256 } from './primitives.js';

export const VERSION_LINE = 'age-encryption.org/v1';
const VERSION_PREFIX = Buffer.from(VERSION_LINE + '\n', 'latin1');
const ARMOR_BEGIN = '-----BEGIN AGE ENCRYPTED FILE-----';
const COLUMNS = 64;
const MAC_SIZE = 32;
/** Upper bound on the header we are willing to buffer while looking for its end. */
export const MAX_HEADER_SIZE = 1 << 20;

export interface Stanza {
  type: string;
  /** Arguments after the type. */
  args: string[];
  body: Buffer;
}

export interface ParsedHeader {
  stanzas: Stanza[];
  /** Header bytes covered by the MAC: everything up to and including `---`. */
  macInput: Buffer;
  mac: Buffer;
}

function isArgChar(c: number): boolean {
  return c >= 33 && c <= 126;
}

function checkArg(arg: string): boolean {
  if (arg.length === 0) return false;
  for (let i = 0; i < arg.length; i++) if (!isArgChar(arg.charCodeAt(i))) return false;
  return true;
}

export function encodeStanza(s: Stanza): string {
  for (const a of [s.type, ...s.args]) {
    if (!checkArg(a)) throw new Error('invalid stanza argument');
  }
  let out = '-> ' + [s.type, ...s.args].join(' ') + '\n';
  const b64 = b64encode(s.body);
  for (let i = 0; i < b64.length; i += COLUMNS) out += b64.slice(i, i + COLUMNS) + '\n';
  // The final body line must be shorter than 64 columns, so a body whose
  // encoding is a multiple of 64 (including the empty body) ends with an empty line.
  if (b64.length % COLUMNS === 0) out += '\n';
  return out;
}

export function headerMac(fileKey: Uint8Array, macInput: Uint8Array): Buffer {
  return hmacSha256(hkdf32(fileKey, null, 'header'), macInput);
}

/** Serialises the full header (including the MAC line) for the given stanzas and file key. */
export function encodeHeader(stanzas: Stanza[], fileKey: Uint8Array): Buffer {
  let text = VERSION_LINE + '\n';
  for (const s of stanzas) text += encodeStanza(s);
  text += '---';
  const macInput = Buffer.from(text, 'latin1');
  const mac = headerMac(fileKey, macInput);
  return Buffer.concat([macInput, Buffer.from(' ' + b64encode(mac) + '\n', 'latin1')]);
}

export function verifyHeaderMac(header: ParsedHeader, fileKey: Uint8Array): boolean {
  const expected = headerMac(fileKey, header.macInput);
  return expected.length === header.mac.length && timingSafeEqual(expected, header.mac);
}

function describeBadStart(start: string): string {
  if (start.startsWith(ARMOR_BEGIN.slice(0, Math.min(start.length, ARMOR_BEGIN.length))) && start.length >= 5) {
    return 'the input is ASCII-armored (PEM) age data; armored files are not supported, remove the armor first (age -d can read it)';
  }
  if (start.startsWith(VERSION_LINE + '\r')) {
    return 'malformed age header: CRLF line endings (the file was probably converted as text; age files are binary)';
  }
  if (start.startsWith('age-encryption.org/')) {
    return 'unsupported age format version (only age-encryption.org/v1 is supported)';
  }
  return 'the input is not an age-encrypted file (missing "age-encryption.org/v1" version line)';
}

/**
 * Checks that the first bytes seen so far can still be an age v1 header;
 * throws BAD_HEADER as soon as they cannot.
 */
export function checkHeaderStart(buf: Buffer, len: number): void {
  const n = Math.min(len, VERSION_PREFIX.length);
  if (buf.compare(VERSION_PREFIX, 0, n, 0, n) !== 0) {
    throw new AgeError('BAD_HEADER', describeBadStart(buf.toString('latin1', 0, Math.min(len, 64))));
  }
}

/**
 * Finds the end of the header in buf[0, len): the index just past the newline
 * that ends the `---` MAC line, or -1 if it is not there yet. Scanning starts
 * at `from`; when the end is not found, `next` is where to resume once more
 * bytes have arrived (so a slowly arriving header is scanned in linear time).
 */
export function findHeaderEnd(buf: Buffer, len: number, from: number): { end: number; next: number } {
  // Stanza lines start with "-> " and body lines are base64, so the first
  // line starting with "---" is the MAC line.
  const view = buf.subarray(0, len);
  let i = from;
  for (;;) {
    const nl = view.indexOf(0x0a, i);
    if (nl < 0) return { end: -1, next: Math.max(from, len) };
    const ls = nl + 1;
    if (ls + 3 > len) return { end: -1, next: nl };
    if (view[ls] === 0x2d && view[ls + 1] === 0x2d && view[ls + 2] === 0x2d) {
      const endNl = view.indexOf(0x0a, ls);
      if (endNl < 0) return { end: -1, next: nl };
      return { end: endNl + 1, next: endNl + 1 };
    }
    i = ls;
  }
}

function bad(message: string): AgeError {
  return new AgeError('BAD_HEADER', `malformed age header: ${message}`);
}

/** Parses a complete header (as delimited by findHeaderEnd). Strict: rejects anything age would reject. */
export function parseHeader(bytes: Buffer): ParsedHeader {
  const text = bytes.toString('latin1');
  if (!text.endsWith('\n')) throw bad('header does not end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines[0] !== VERSION_LINE) throw new AgeError('BAD_HEADER', describeBadStart(lines[0]));
  let offset = lines[0].length + 1;
  const stanzas: Stanza[] = [];
  let i = 1;
  for (;;) {
    const line = lines[i];
    if (line === undefined) throw bad('missing MAC line');
    if (line.startsWith('---')) {
      if (i !== lines.length - 1) throw bad('data after the MAC line');
      if (!line.startsWith('--- ')) throw bad('malformed MAC line');
      const mac = b64decode(line.slice(4));
      if (mac === null || mac.length !== MAC_SIZE) throw bad('MAC is not canonical unpadded base64 of 32 bytes');
      if (stanzas.length === 0) throw bad('no recipient stanzas');
      return { stanzas, macInput: bytes.subarray(0, offset + 3), mac };
    }
    if (!line.startsWith('-> ')) throw bad(`line ${i + 1} is neither a stanza ("-> ") nor the MAC line ("---")`);
    const args = line.slice(3).split(' ');
    if (!args.every(checkArg)) throw bad(`stanza on line ${i + 1} has an empty or non-printable argument`);
    const type = args.shift() as string;
    offset += line.length + 1;
    i++;
    let body = '';
    for (;;) {
      const bl = lines[i];
      if (bl === undefined) throw bad(`stanza on line ${i} has no body`);
      if (bl.length > COLUMNS) throw bad(`stanza body line ${i + 1} is longer than ${COLUMNS} columns`);
      body += bl;
      offset += bl.length + 1;
      i++;
      if (bl.length < COLUMNS) break;
    }
    const decoded = b64decode(body);
    if (decoded === null) throw bad(`stanza "${type}" body is not canonical unpadded base64`);
    stanzas.push({ type, args, body: decoded });
  }
}
