export * from './layout.js';
export * from './manifest.js';
export { parseManifest, serializeManifest } from './read-manifest.js';
