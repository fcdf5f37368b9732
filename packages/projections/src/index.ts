export * from './flat-container/index.js';
export * from './registration/index.js';
export * from './search/index.js';
export { createFlatContainerProjector, type FlatContainerProjector, type FlatContainerProjectorOptions, type ProjectionResult } from './flat-container/flat-container-projector.js';
export { createRegistrationProjector, type RegistrationProjector, type RegistrationProjectorOptions } from './registration/registration-projector.js';
