export { createDb, type Db, type DbOptions } from './create-db.js';
export { migrateToLatest } from './migrate.js';
export * from './schema.js';
