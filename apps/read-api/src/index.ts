export { createReadApp, type ReadAppDeps } from './app.js';
export { buildServiceIndex } from './service-index.js';
