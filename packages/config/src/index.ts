export { ConfigError, type ConfigProblem } from './config-error.js';
export {
  loadConfig,
  type AccessConfig,
  type Config,
  type DatabaseConfig,
  type FeedConfig,
  type HttpConfig,
  type LogLevel,
  type PublishConfig,
  type RedisConfig,
  type StorageConfig,
  type SearchConfig,
  type ReadConfig,
  type WorkerConfig,
  type WorkerProjection,
} from './load-config.js';
export type { LogFn, Logger } from './logger.js';
