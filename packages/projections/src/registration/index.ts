export {
  buildRegistration,
  layoutRegistration,
  DEFAULT_LEAVES_PER_PAGE,
  DEFAULT_MAX_INLINED_LEAVES,
  type BuildRegistrationOptions,
  type HiveLayout,
  type HiveOutput,
  type RegistrationDocument,
  type RegistrationLeafInput,
} from './build-registration.js';
export { InvalidRegistrationInputError } from './errors.js';
