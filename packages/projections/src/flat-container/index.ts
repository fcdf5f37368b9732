export { buildFlatContainerIndex } from './build-flat-container-index.js';
