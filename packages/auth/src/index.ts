export * from './api-keys.js';
export * from './credentials.js';
export * from './key-cache.js';
