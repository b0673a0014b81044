export * from './schema.js';
export { loadConfigWith, parseConfigWith, resolveConfigPath, type ConfigSchema } from './load.js';
