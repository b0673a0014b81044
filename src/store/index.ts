export * from './types.js';
export { FileStore } from './file.js';
export { S3Store } from './s3.js';
export { openStore } from './open.js';
export { readObject, readObjectText, writeObjectText } from './text.js';
