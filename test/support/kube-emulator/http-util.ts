/** Small helpers for reading requests and writing JSON / Status responses. */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { ApiError, badRequest } from './errors.js';
import { decodeProtobufObject, isProtobuf } from './protobuf.js';

const MAX_BODY = 64 * 1024 * 1024;

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new ApiError(413, 'RequestEntityTooLarge', 'the request body is too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Decodes a JSON (or YAML, for apply patches) request body. */
export function decodeBody(buf: Buffer, contentType: string | undefined): unknown {
  if (buf.length > 0 && isProtobuf(contentType)) return decodeProtobufObject(buf);
  const text = buf.toString('utf8');
  if (text.trim() === '') return undefined;
  const ct = (contentType ?? '').toLowerCase();
  try {
    if (ct.includes('yaml')) return parseYaml(text) as unknown;
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw badRequest(`error decoding request body: ${ct.includes('yaml') ? 'yaml' : 'json'} parse error: ${(e as Error).message}`);
  }
}

export function baseHeaders(): Record<string, string> {
  return { 'Cache-Control': 'no-cache, private', 'Audit-Id': randomUUID() };
}

export function sendJson(res: ServerResponse, code: number, body: unknown, pretty = false): void {
  const text = pretty ? JSON.stringify(body, null, 2) : JSON.stringify(body);
  res.writeHead(code, { ...baseHeaders(), 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendText(res: ServerResponse, code: number, text: string): void {
  res.writeHead(code, { ...baseHeaders(), 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown): void {
  const e = err instanceof ApiError ? err : new ApiError(500, 'InternalError', `Internal error occurred: ${(err as Error)?.message ?? String(err)}`);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, e.code, e.toStatus());
}
