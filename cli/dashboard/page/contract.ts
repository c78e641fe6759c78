// What the dashboard's server answers its page (types only: the page's bundle carries none of it).
import type { Estimate } from '../../../functions/shared/estimate.js';
import type { JobStatus, JobView } from '../../../functions/shared/job.js';
import type { JobCost } from '../../../functions/shared/cost.js';

export type { Estimate, JobCost, JobStatus, JobView };

/** One row of `GET /api/jobs` (`{ jobs: JobRow[] }`), newest first. */
export interface JobRow {
  jobId: string;
  status: JobStatus;
  samples: number;
  tasks: number;
  seed: number;
  createdAt: string;
  finishedAt?: string;
  done: number;
  progress: number;
  estimate: Estimate | null;
  /** The cost so far, when the job's view was read. */
  usd?: number;
}

/** A point of the convergence plot: samples done, π, and the 95 % interval's ends. */
export type ConvergencePoint = [done: number, pi: number, low: number, high: number];

// The events of `GET /api/jobs/{id}/events`: `history` first (`{ points }`), then `job` (the API's
// JobView, with its cost) at most once a second while the job runs and once more when it ends, or
// `failure` (`{ error: { code, message } }`) when the job cannot be read.

/** The API's error body, passed through. */
export interface ErrorBody {
  error: { code: string; message: string };
}
