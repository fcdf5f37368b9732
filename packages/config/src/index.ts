export { ConfigError, type ConfigProblem } from './config-error.js';
export {
  loadConfig,
  type AccessConfig,
  type AuthFailuresConfig,
  type Config,
  type DatabaseConfig,
  type FeedConfig,
  type HttpConfig,
  type LogLevel,
  type PublishConfig,
  type RedisConfig,
  type StorageConfig,
  type MirrorConfig,
  type SearchConfig,
  type ReadConfig,
  type ReadyConfig,
  type WorkerConfig,
  type WorkerProjection,
} from './load-config.js';
export type { LogFn, Logger } from './logger.js';
