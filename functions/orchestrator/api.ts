import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { ApiError } from '../shared/errors.js';
import { isFinal, summarizeJob, type JobSummary, type JobView } from '../shared/job.js';
import { jobListToken, parseIdempotencyKey, parseJobId, parseJobListQuery, parseJobRequest, type Limits } from '../shared/validation.js';
import { cancelJob, recordUsage, settleJob, submitJob, waitForJob, type Caller, type JobDeps } from './jobs.js';

export interface ApiDeps extends JobDeps {
  limits: Limits;
  estimateWaitMs: number;
}

/** API Gateway cuts a REST request 29 s after it arrived. */
const API_GATEWAY_TIMEOUT_MS = 29_000;
/** `POST /estimate` answers this long before API Gateway's cut, for the answer's own way back. */
const ANSWER_MARGIN_MS = 3_000;

const json = (statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyResult => ({
  statusCode,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

const errorResponse = (error: ApiError) => json(error.statusCode, { error: { code: error.code, message: error.message } }, { ...error.headers });

function header(event: APIGatewayProxyEvent, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted && value !== undefined) return value;
  }
  return undefined;
}

/** The job's URL under whatever stage or base path the request came through. */
function jobLocation(event: APIGatewayProxyEvent, jobId: string): string {
  const fullPath = event.requestContext?.path ?? event.path;
  const base = fullPath.endsWith(event.path) ? fullPath.slice(0, fullPath.length - event.path.length) : '';
  return `${base}/jobs/${jobId}`;
}

function body(event: APIGatewayProxyEvent): string | null {
  if (event.body === null || event.body === undefined) return null;
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
}

const accepted = (event: APIGatewayProxyEvent, view: JobView) => {
  const location = jobLocation(event, view.jobId);
  return json(202, { ...view, location }, { location });
};

/**
 * The IAM principal that signed the request, as API Gateway reports it: jobs belong to it. Every
 * route requires IAM auth, so a request without one never reaches us through the API.
 */
function ownerOf(event: APIGatewayProxyEvent): string {
  const identity = event.requestContext?.identity;
  const owner = identity?.userArn ?? identity?.caller ?? undefined;
  if (!owner) throw new ApiError(403, 'MissingIdentity', 'the request carries no IAM identity; sign it with SigV4');
  return owner;
}

/** Until when `POST /estimate` may wait: its configured wait, and never past API Gateway's cut. */
function answerBy(event: APIGatewayProxyEvent, deps: ApiDeps, startedAt: number): number {
  const arrivedAt = event.requestContext?.requestTimeEpoch ?? startedAt;
  return Math.min(startedAt + deps.estimateWaitMs, arrivedAt + API_GATEWAY_TIMEOUT_MS - ANSWER_MARGIN_MS);
}

/** A request naming a job answers its view with the request's own usage recorded (the API request, this invocation). */
const answered = (view: JobView, deps: ApiDeps) => recordUsage(view, deps, 1);

async function route(event: APIGatewayProxyEvent, deps: ApiDeps): Promise<APIGatewayProxyResult> {
  const startedAt = deps.now();
  const key = `${event.httpMethod} ${event.resource}`;
  switch (key) {
    case 'POST /jobs': {
      const request = parseJobRequest(body(event), deps.limits);
      const { view } = await submitJob(request, callerOf(event), deps);
      return accepted(event, await answered(view, deps));
    }
    case 'POST /estimate': {
      const request = parseJobRequest(body(event), deps.limits);
      const caller = callerOf(event);
      const { view } = await submitJob(request, caller, deps);
      const result = await answered(await waitForJob(view.jobId, caller.owner, answerBy(event, deps, startedAt), deps), deps);
      return isFinal(result.status) ? json(200, result) : accepted(event, result);
    }
    case 'GET /jobs':
      return json(200, await listJobs(event, deps));
    case 'GET /jobs/{id}':
      return json(200, await answered(await settleJob(parseJobId(event.pathParameters?.id), deps, ownerOf(event)), deps));
    case 'DELETE /jobs/{id}':
      return json(200, await answered(await cancelJob(parseJobId(event.pathParameters?.id), ownerOf(event), deps), deps));
    default:
      throw new ApiError(404, 'RouteNotFound', `no route for ${event.httpMethod} ${event.path}`);
  }
}

/**
 * `GET /jobs`: a page of the caller's jobs, newest first, and the token of the next page while more
 * remain. One read of the owner index and no write: a list request is nobody's job, so no job's usage
 * counts it.
 */
async function listJobs(event: APIGatewayProxyEvent, deps: ApiDeps): Promise<{ jobs: JobSummary[]; next?: string }> {
  const owner = ownerOf(event);
  const { limit, after } = parseJobListQuery(event.queryStringParameters, owner);
  const page = await deps.store.listJobs(owner, limit, after);
  return { jobs: page.jobs.map(summarizeJob), ...(page.next && { next: jobListToken(owner, page.next) }) };
}

function callerOf(event: APIGatewayProxyEvent): Caller {
  const idempotencyKey = parseIdempotencyKey(header(event, 'idempotency-key'));
  return { owner: ownerOf(event), ...(idempotencyKey !== undefined && { idempotencyKey }) };
}

/** Maps an API Gateway proxy event to a job operation; user mistakes become 4xx, never 5xx. */
export async function handleApiEvent(event: APIGatewayProxyEvent, deps: ApiDeps): Promise<APIGatewayProxyResult> {
  try {
    return await route(event, deps);
  } catch (error) {
    if (error instanceof ApiError) return errorResponse(error);
    // A fault of ours or of a dependency, never of the input: log it, answer in the API's error shape.
    deps.observe?.({ kind: 'requestFailed', error });
    return errorResponse(new ApiError(500, 'InternalError', 'the request could not be completed; try again'));
  }
}
