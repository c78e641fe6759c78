import type { JobView } from '../functions/shared/job.js';
import type { JobCost } from '../functions/shared/cost.js';
import { ApiError } from './api-client.js';
import { formatCount, formatRate, formatSeconds } from './numbers.js';

/** How long the job ran by its own clock (created → finished), else as the client saw it. */
function jobWallMs(job: JobView, clientMs: number): number {
  if (job.finishedAt === undefined) return clientMs;
  const ms = Date.parse(job.finishedAt) - Date.parse(job.createdAt);
  return Number.isFinite(ms) && ms > 0 ? ms : clientMs;
}

const significant = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 3 });
const units = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

/** Dollars to three significant digits, however small: $0.000213, $1.23, $12,300. */
export const formatUsd = (usd: number) => `$${significant.format(usd)}`;

/** The cost a job view carries, when the API sends one. */
export const costOf = (job: JobView): JobCost | undefined => (job as JobView & { cost?: JobCost }).cost;

/** What a job cost (or has cost so far), by service, in one line. */
export function describeCost(cost: JobCost): string {
  const invocations = cost.lambda.requests === 1 ? 'invocation' : 'invocations';
  const requests = cost.apiRequests === 1 ? 'API request' : 'API requests';
  return (
    `${formatUsd(cost.usd)} — Lambda ${significant.format(cost.lambda.gbSeconds)} GB-s in ${formatCount(cost.lambda.requests)} ${invocations}` +
    ` · DynamoDB ${units.format(cost.dynamodb.writeUnits)} write / ${units.format(cost.dynamodb.readUnits)} read units` +
    ` · ${formatCount(cost.apiRequests)} ${requests}`
  );
}

/** The result, in the tutorial's words first ("Estimated value of π is: ..."), then the statistics. */
export function describeResult(job: JobView, clientMs: number): string[] {
  const lines: string[] = [];
  if (job.status !== 'SUCCEEDED') {
    lines.push(`Job ${job.status}${job.reason ? `: ${job.reason}` : ''}`);
    if (job.failedTasks?.length) lines.push(`Failed tasks: ${job.failedTasks.join(', ')}`);
  }
  const wallMs = jobWallMs(job, clientMs);
  if (job.estimate) {
    const { pi, standardError, ci95 } = job.estimate;
    const partial = job.status === 'SUCCEEDED' ? '' : ` (from the ${formatCount(job.done)} samples done)`;
    lines.push(`Estimated value of π is: ${pi}${partial}`);
    lines.push(`Standard error: ${standardError.toPrecision(3)}, 95% interval: [${ci95[0].toFixed(6)}, ${ci95[1].toFixed(6)}]`);
    lines.push(`Error vs Math.PI: ${(pi - Math.PI).toExponential(2)} (${((pi - Math.PI) / standardError).toFixed(2)} standard errors)`);
  }
  lines.push(
    `${formatCount(job.done)} samples in ${job.tasks} task(s), seed ${job.seed}: ` +
      `wall time ${formatSeconds(wallMs)}, ${formatRate((job.done / wallMs) * 1000)} samples/s`,
  );
  const cost = costOf(job);
  if (cost) lines.push(`cost: ${describeCost(cost)}`);
  return lines;
}

/** One readable line: the API's own code and message, never a stack trace. */
export function errorText(error: unknown): string {
  if (error instanceof ApiError) return `the API answered ${error.status} ${error.code}: ${error.message}`;
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}
