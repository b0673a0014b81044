import { describe, expect, it } from 'vitest';
import { partSizeFor } from '../../src/store/s3-upload.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe('S3 part size', () => {
  it('is the configured size when the stream size is unknown or fits', () => {
    expect(partSizeFor(8)).toBe(8 * MiB);
    expect(partSizeFor(8, 20 * GiB)).toBe(8 * MiB);
    expect(partSizeFor(64, 1 * GiB)).toBe(64 * MiB);
  });

  it('grows for a large expected size so that the upload stays within 9,000 of S3s 10,000 parts', () => {
    const size = partSizeFor(8, 500 * GiB);
    expect(size % MiB).toBe(0);
    expect(Math.ceil((500 * GiB) / size)).toBeLessThanOrEqual(9000);
    expect(size).toBe(57 * MiB);
  });

  it('never exceeds S3s 5 GiB part limit', () => {
    expect(partSizeFor(8, 100_000 * GiB)).toBe(5120 * MiB);
  });
});
