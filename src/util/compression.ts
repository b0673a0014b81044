import { constants, createGunzip, createGzip, createZstdCompress, createZstdDecompress } from 'node:zlib';
import { PassThrough, type Transform } from 'node:stream';
import type { Compression } from '../format/layout.js';

export function compressor(kind: Compression, level = 3): Transform {
  switch (kind) {
    case 'zstd':
      return createZstdCompress({ params: { [constants.ZSTD_c_compressionLevel]: level, [constants.ZSTD_c_checksumFlag]: 1 } });
    case 'gzip':
      return createGzip({ level: Math.min(level, 9) });
    case 'none':
      return new PassThrough();
  }
}

export function decompressor(kind: Compression): Transform {
  switch (kind) {
    case 'zstd':
      return createZstdDecompress();
    case 'gzip':
      return createGunzip();
    case 'none':
      return new PassThrough();
  }
}
