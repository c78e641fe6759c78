import type { ApiClient } from '../api-client.js';
import type { JobStatus } from '../../functions/shared/job.js';
import type { Estimate } from '../../functions/shared/estimate.js';

// STUB until GET /jobs and ApiClient.listJobs land: the contract they follow, and a stand-in that
// lists the jobs this dashboard submitted. Delete this file at the merge and import JobSummary and
// listJobs from the API client.

/** One job of GET /jobs; done, inside and estimate only for finished jobs. */
export interface JobSummary {
  jobId: string;
  status: JobStatus;
  seed: number;
  samples: number;
  tasks: number;
  createdAt: string;
  deadlineAt: string;
  finishedAt?: string;
  done?: number;
  inside?: number;
  estimate?: Estimate | null;
}

export interface JobsPage {
  jobs: JobSummary[];
  next?: string;
}

type ListingClient = ApiClient & { listJobs?: (options?: { limit?: number; next?: string; signal?: AbortSignal }) => Promise<JobsPage> };

/** The caller's jobs newest first: the API's list when it has one, else the jobs submitted here. */
export async function listJobs(client: ApiClient, submittedHere: readonly JobSummary[], limit: number, signal?: AbortSignal): Promise<JobsPage> {
  const listing = client as ListingClient;
  if (typeof listing.listJobs === 'function') return listing.listJobs({ limit, signal });
  return { jobs: [...submittedHere].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt)).slice(0, limit) };
}
