export { createWorker, type WorkerDeps } from './worker.js';
export { createProjectionRunner, type ProjectionRunner, type ProjectionRunnerOptions } from './projection-runner.js';
export { createGenerationManager, createGenerationsPointer, type GenerationManager, type GenerationManagerOptions, type GenerationsPointer } from './generations.js';
