/** The projections a worker can run. Each has its own queue and its own cursor. */
export const PROJECTIONS = ['flatcontainer', 'registration', 'search'] as const;
export type ProjectionName = (typeof PROJECTIONS)[number];

/** The BullMQ queue name of a projection (BullMQ forbids ':' in names). */
export function projectionQueueName(projection: ProjectionName): string {
  return `projection-${projection}`;
}

/** Job names inside a projection queue. */
export const JOB_PROJECT_ID = 'project-id';
export const JOB_ADVANCE_CURSOR = 'advance-cursor';

/** Payload of a per-id job: rebuild this id's documents from the catalog. */
export interface ProjectIdJobData {
  feedId: number;
  lowerId: string;
}

/** Payload of a batch (parent) job: once every id of the batch is projected, move the cursor. */
export interface AdvanceCursorJobData {
  feedId: number;
  /** ISO timestamps: the cursor before and after the batch. */
  from: string;
  to: string;
  ids: number;
  /** The cursor's run when the batch was scheduled (absent in batches of older versions). */
  runId?: string;
}

/**
 * Deterministic job ids, so duplicate schedules collapse into one job. A batch's id names the cursor's
 * run too: after a reset, the replay's batches are new jobs, not the finished (or still running) jobs
 * of the run before that started from the same cursor.
 */
export function batchJobId(feedId: number, from: Date, runId: string): string {
  return `batch-${feedId}-${from.getTime()}-${runId}`;
}
export function idJobId(feedId: number, from: Date, lowerId: string): string {
  return `id-${feedId}-${from.getTime()}-${lowerId}`;
}
