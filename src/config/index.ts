export * from './schema.js';
export { loadConfig, parseConfig, resolveConfigPath } from './load.js';
