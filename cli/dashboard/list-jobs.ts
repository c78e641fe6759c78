import type { ApiClient, JobSummary } from '../api-client.js';

export type { JobSummary };

const newestFirst = (a: JobSummary, b: JobSummary) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || b.jobId.localeCompare(a.jobId);

/**
 * The caller's jobs newest first (GET /jobs), with those this dashboard submitted that the list does
 * not show yet: the API reads an index that may lag a new job by a moment.
 */
export async function listJobs(client: ApiClient, submittedHere: readonly JobSummary[], limit: number, signal?: AbortSignal): Promise<{ jobs: JobSummary[] }> {
  const { jobs } = await client.listJobs({ limit, signal });
  const listed = new Set(jobs.map((job) => job.jobId));
  const missing = submittedHere.filter((job) => !listed.has(job.jobId));
  return { jobs: [...jobs, ...missing].sort(newestFirst).slice(0, limit) };
}
