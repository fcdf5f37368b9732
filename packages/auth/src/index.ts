export * from './api-keys.js';
export * from './credentials.js';
export * from './key-cache.js';
export * from './owner-names.js';
export * from './ownership.js';
