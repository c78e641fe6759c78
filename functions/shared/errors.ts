/** An error the API answers with a 4xx and `{"error":{"code","message"}}`. */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    /** Response headers the answer carries (e.g. `retry-after`). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** A report or record names a job (or task) the table does not hold. */
export class UnknownJobError extends Error {
  constructor(jobId: string, taskId?: number) {
    super(taskId === undefined ? `job ${jobId} does not exist` : `job ${jobId} has no task ${taskId}`);
    this.name = 'UnknownJobError';
  }
}
