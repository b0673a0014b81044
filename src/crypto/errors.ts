/**
 * Error type for everything the age implementation rejects. Messages are meant
 * to be shown to operators: they say what is wrong and what to check, and they
 * never contain key material, passphrases or plaintext.
 */
export type AgeErrorCode =
  | 'NO_MATCH'
  | 'BAD_HEADER'
  | 'BAD_MAC'
  | 'TRUNCATED'
  | 'TRAILING_DATA'
  | 'BAD_CHUNK'
  | 'BAD_KEY'
  | 'WORK_FACTOR';

export class AgeError extends Error {
  readonly code: AgeErrorCode;

  constructor(code: AgeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AgeError';
    this.code = code;
  }
}
