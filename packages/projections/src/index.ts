export * from './flat-container/index.js';
export * from './registration/index.js';
export * from './search/index.js';
export { createFlatContainerProjector, type FlatContainerProjector, type FlatContainerProjectorOptions } from './flat-container/flat-container-projector.js';
export type { ProjectionResult, ProjectOptions } from './shared/projection.js';
export {
  createRegistrationProjector,
  DEFAULT_PAGE_GRACE_MS,
  REGISTRATION_GZIP_LEVEL,
  type RegistrationProjector,
  type RegistrationProjectorOptions,
} from './registration/registration-projector.js';
