export { buildNupkg, NUSPEC_NAMESPACE } from './build-nupkg.js';
export type { NupkgSpec, NupkgDependencySpec } from './build-nupkg.js';
export { createTestDatabase, DEFAULT_TEST_DATABASE_URL } from './test-database.js';
export type { TestDatabase } from './test-database.js';
export { createTestRedisPrefix, DEFAULT_TEST_REDIS_URL } from './test-redis.js';
export type { TestRedisPrefix } from './test-redis.js';
export { freePort } from './free-port.js';
export { waitFor, WaitTimeoutError } from './wait-for.js';
export type { WaitForOptions } from './wait-for.js';
