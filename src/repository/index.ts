export * from './layout.js';
export * from './manifest.js';
export { parseManifest, serializeManifest } from './manifest-json.js';
