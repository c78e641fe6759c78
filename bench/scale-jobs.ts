// Big jobs on the embedded local cloud, as `npm start` runs them: wall time, throughput, and what
// the local cloud costs the machine meanwhile (worker processes, memory), against the kernel
// measured in the same process.
import { readFileSync } from 'node:fs';
import { ApiClient, type JobRequest } from '../cli/api-client.js';
import { localPollMs } from '../cli/start.js';
import type { JobView } from '../functions/shared/job.js';
import { BLOCK_SIZE, kernel } from '../functions/shared/kernel/index.js';
import type { LocalCloud } from '../local/index.js';

export interface ScaleJobResult {
  request: JobRequest;
  /** POST /jobs → the first GET showing the job ended (what `npm start` reports as wall time). */
  wallMs: number;
  status: string;
  /** Samples per second over the whole job, or over the marginal window when the job was cut short. */
  samplesPerSecond: number;
  /** Most worker processes alive at once. */
  peakWorkers: number;
  /** Highest resident memory of this (host) process, and of all worker processes together, at one sample. */
  peakHostRssMb: number;
  peakWorkersRssMb: number;
}

/** Often enough to catch the pools at their peak; rarely enough to cost the host nothing noticeable. */
const SAMPLE_EVERY_MS = 500;

/** Resident memory of a process from /proc (Linux); 0 where /proc is absent. */
function rssBytes(pid: number): number {
  try {
    const pages = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
    return pages * 4096;
  } catch {
    return 0;
  }
}

/** Samples the worker processes and memory until stopped; returns the peaks. */
function watchProcesses(cloud: LocalCloud) {
  const peaks = { workers: 0, hostRss: 0, workersRss: 0 };
  const sample = () => {
    const pids = cloud.workerPids();
    peaks.workers = Math.max(peaks.workers, pids.length);
    peaks.hostRss = Math.max(peaks.hostRss, process.memoryUsage.rss());
    peaks.workersRss = Math.max(peaks.workersRss, pids.reduce((sum, pid) => sum + rssBytes(pid), 0));
  };
  sample();
  const timer = setInterval(sample, SAMPLE_EVERY_MS);
  return () => {
    clearInterval(timer);
    sample();
    return { peakWorkers: peaks.workers, peakHostRssMb: peaks.hostRss / 2 ** 20, peakWorkersRssMb: peaks.workersRss / 2 ** 20 };
  };
}

/** Runs a job to its end, polling as `npm start` does. */
export async function timeJob(cloud: LocalCloud, client: ApiClient, request: JobRequest): Promise<ScaleJobResult> {
  const stop = watchProcesses(cloud);
  const started = performance.now();
  const job = await client.submitJob(request);
  const final = await client.waitForJob(job.jobId, { intervalMs: localPollMs(request.tasks) });
  const wallMs = performance.now() - started;
  if (final.status !== 'SUCCEEDED') throw new Error(`job ${final.jobId} ended ${final.status}: ${final.reason ?? ''}`);
  return { request, wallMs, status: final.status, samplesPerSecond: (request.samples / wallMs) * 1000, ...stop() };
}

/**
 * Runs a long job for `warmupMs`, then measures the samples done between two reads `windowMs`
 * apart (the marginal throughput, without start-up), then cancels it.
 */
export async function marginalThroughput(
  cloud: LocalCloud,
  client: ApiClient,
  request: JobRequest,
  { warmupMs, windowMs }: { warmupMs: number; windowMs: number },
): Promise<ScaleJobResult> {
  const stop = watchProcesses(cloud);
  const started = performance.now();
  const job = await client.submitJob(request);
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  await sleep(warmupMs);
  const read = async (): Promise<[JobView, number]> => [await client.getJob(job.jobId), performance.now()];
  const [first, firstAt] = await read();
  await sleep(windowMs);
  const [second, secondAt] = await read();
  const wallMs = performance.now() - started;
  await client.cancelJob(job.jobId).catch(() => undefined);
  if (first.status !== 'RUNNING' || second.status !== 'RUNNING') throw new Error(`job ${job.jobId} was not running throughout the window: ${second.status}`);
  const samplesPerSecond = ((second.done - first.done) / (secondAt - firstAt)) * 1000;
  return { request, wallMs, status: 'cancelled after the window', samplesPerSecond, ...stop() };
}

/** The kernel's samples per second on one core of this process (one pass of `seconds`). */
export function kernelSamplesPerSecond(seconds = 1): number {
  const chunkBlocks = 64; // as the sampler calls it
  const jobSamples = Number.MAX_SAFE_INTEGER;
  let block = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    kernel.countInside(12_345, block, block + chunkBlocks, jobSamples);
    block += chunkBlocks;
  }
  return (block * BLOCK_SIZE) / ((performance.now() - started) / 1000);
}
