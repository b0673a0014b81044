/**
 * Redis RDB files (the format of dump.rdb and of a full resynchronisation): the public entry of the streaming
 * validator. The parser of the RDB stream (opcodes, lengths, strings, per-type value layouts) is in
 * rdb-parser.ts; the validator Transform over it, its whole-file checks (CRC-64 trailer, RESIZEDB hints) and
 * its summary are in rdb-validator.ts.
 */
export { MAX_RDB_VERSION, RdbFormatError } from './rdb-parser.js';
export {
  RdbValidator,
  minRedisForRdbVersion,
  totalKeys,
  validateRdbFile,
  type RdbDatabase,
  type RdbSummary,
  type RdbValidatorOptions,
} from './rdb-validator.js';
