/**
 * LZF decompression (liblzf's lzf_decompress), as Redis uses for compressed strings in RDB files.
 * Only used for the few small values the validator decodes (AUX fields); payloads are otherwise skipped.
 * Returns undefined when the input is malformed or does not decompress to exactly `outLen` bytes.
 */
export function lzfDecompress(input: Uint8Array, outLen: number): Buffer | undefined {
  const out = Buffer.alloc(outLen);
  let ip = 0;
  let op = 0;
  while (ip < input.length) {
    const ctrl = input[ip++];
    if (ctrl < 32) {
      const len = ctrl + 1;
      if (op + len > outLen || ip + len > input.length) return undefined;
      out.set(input.subarray(ip, ip + len), op);
      ip += len;
      op += len;
    } else {
      let len = ctrl >> 5;
      if (len === 7) {
        if (ip >= input.length) return undefined;
        len += input[ip++];
      }
      if (ip >= input.length) return undefined;
      let ref = op - ((ctrl & 0x1f) << 8) - 1 - input[ip++];
      len += 2;
      if (ref < 0 || op + len > outLen) return undefined;
      while (len-- > 0) out[op++] = out[ref++];
    }
  }
  return op === outLen ? out : undefined;
}
