import { randomUUID } from 'node:crypto';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';
import type { JobRequest, JobStatus, JobSummary, JobView } from '../functions/shared/job.js';

export type { JobRequest, JobStatus, JobSummary, JobView };

/** Static credentials or a provider (the SDK's chain); whatever the signer accepts. */
export type Credentials = ConstructorParameters<typeof SignatureV4>[0]['credentials'];

export interface ApiClientOptions {
  /** The stage's base URL, e.g. the stack output `ApiUrl` (`https://id.execute-api.region.amazonaws.com/prod/`). */
  endpoint: string;
  /** Signing region: defaults to the one in an execute-api host name, then AWS_REGION / AWS_DEFAULT_REGION. */
  region?: string;
  /** Defaults to the standard AWS credential chain (environment, profile, SSO, instance role...). */
  credentials?: Credentials;
  /** Per-request time limit; POST /estimate alone may take API Gateway's 29 s. */
  timeoutMs?: number;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON, or undefined when the body is empty or not JSON. */
  body: unknown;
  text: string;
}

export interface RequestOptions {
  /** A string is sent as is (for malformed bodies); anything else is sent as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Sign with SigV4 (default true): an unsigned request shows what a stranger gets. */
  sign?: boolean;
  /** Retry throttling, 5xx and network errors: only for requests that are safe to repeat. */
  retry?: boolean;
  signal?: AbortSignal;
}

/** What a job submission answered: the job as first seen, and where to follow it. */
export interface SubmittedJob extends JobView {
  location: string;
}

/** A 4xx/5xx answer, carrying the API's `{"error":{"code","message"}}`. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly response: ApiResponse,
  ) {
    super(message);
  }
}

const DEFAULT_TIMEOUT_MS = 35_000;
const RETRIABLE = new Set([429, 500, 502, 503, 504]);
const RETRY_DELAYS_MS = [200, 600, 1500];

/** The region in an API Gateway host name (`<id>.execute-api.<region>.amazonaws.com`). */
export function regionFromEndpoint(endpoint: string): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/.exec(new URL(endpoint).hostname)?.[1];
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * The one client of the HTTP API (README.md, "The HTTP API"), for the CLI, the tests and the
 * benchmark. It signs every request with SigV4 (service `execute-api`), like any IAM-authorized
 * caller, so the same code talks to a deployed stage and to the local cloud; only the endpoint and
 * credentials differ.
 */
export class ApiClient {
  readonly endpoint: URL;
  readonly region: string;
  private readonly signer: SignatureV4;
  private readonly timeoutMs: number;

  constructor(options: ApiClientOptions) {
    const base = options.endpoint.endsWith('/') ? options.endpoint : `${options.endpoint}/`;
    this.endpoint = new URL(base);
    const region =
      options.region ?? regionFromEndpoint(base) ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
    if (!region) {
      throw new Error('no AWS region to sign requests for: pass --region or set AWS_REGION');
    }
    this.region = region;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.signer = new SignatureV4({
      service: 'execute-api',
      region,
      credentials: options.credentials ?? fromNodeProviderChain(),
      sha256: Hash.bind(null, 'sha256'),
    });
  }

  /** Sends one request to `path` (relative to the stage, e.g. `jobs/abc`) and returns whatever came back. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse> {
    const attempts = options.retry ? RETRY_DELAYS_MS.length + 1 : 1;
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await this.send(method, path, options);
        if (attempt < attempts && RETRIABLE.has(response.status)) {
          await sleep(RETRY_DELAYS_MS[attempt - 1]!, options.signal);
          continue;
        }
        return response;
      } catch (error) {
        if (options.signal?.aborted || attempt >= attempts) throw error;
        await sleep(RETRY_DELAYS_MS[attempt - 1]!, options.signal);
      }
    }
  }

  private async send(method: string, path: string, options: RequestOptions): Promise<ApiResponse> {
    const url = new URL(path.replace(/^\//, ''), this.endpoint);
    const body =
      options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    const headers: Record<string, string> = { host: url.host, ...lowerCaseKeys(options.headers ?? {}) };
    if (body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';

    let sent = headers;
    if (options.sign !== false) {
      const query: Record<string, string> = {};
      url.searchParams.forEach((value, key) => (query[key] = value));
      const signed = await this.signer.sign({
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port === '' ? undefined : Number(url.port),
        path: url.pathname,
        query,
        headers,
        body,
      });
      sent = signed.headers;
    }
    // fetch derives Host from the URL (the same value that was signed) and refuses to take it as a header.
    const { host: _host, ...fetchHeaders } = sent;
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const response = await fetch(url, {
      method,
      headers: fetchHeaders,
      body,
      signal: options.signal ? AbortSignal.any([options.signal, timeout]) : timeout,
    });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: response.status, headers: response.headers, body: parsed, text };
  }

  /** Like request, but a 4xx/5xx answer becomes an ApiError with the API's code and message. */
  async call<T>(method: string, path: string, options: RequestOptions = {}): Promise<{ body: T; response: ApiResponse }> {
    const response = await this.request(method, path, options);
    if (response.status >= 400) throw toApiError(response);
    return { body: response.body as T, response };
  }

  /**
   * POST /jobs. Every submission carries an Idempotency-Key (a fresh one unless given), so a retry
   * after a lost answer returns the same job instead of starting a second one.
   */
  async submitJob(request: JobRequest, options: { idempotencyKey?: string; signal?: AbortSignal } = {}): Promise<SubmittedJob> {
    const { body, response } = await this.call<SubmittedJob>('POST', 'jobs', {
      body: request,
      headers: { 'idempotency-key': options.idempotencyKey ?? randomUUID() },
      retry: true,
      signal: options.signal,
    });
    return { ...body, location: response.headers.get('location') ?? body.location };
  }

  async getJob(jobId: string, signal?: AbortSignal): Promise<JobView> {
    return (await this.call<JobView>('GET', `jobs/${encodeURIComponent(jobId)}`, { retry: true, signal })).body;
  }

  /**
   * GET /jobs: a page of the caller's jobs, newest first (`limit` 1..100, 20 unless given). Pass the
   * answer's `next` back to read the page after it; it is absent on the last page.
   */
  async listJobs(options: { limit?: number; next?: string; signal?: AbortSignal } = {}): Promise<{ jobs: JobSummary[]; next?: string }> {
    const query = new URLSearchParams();
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.next !== undefined) query.set('next', options.next);
    const path = query.size > 0 ? `jobs?${query}` : 'jobs';
    return (await this.call<{ jobs: JobSummary[]; next?: string }>('GET', path, { retry: true, signal: options.signal })).body;
  }

  /** DELETE /jobs/{id}: the job ends CANCELLED; samplers stop at their next report. */
  async cancelJob(jobId: string, signal?: AbortSignal): Promise<JobView> {
    return (await this.call<JobView>('DELETE', `jobs/${encodeURIComponent(jobId)}`, { retry: true, signal })).body;
  }

  /** POST /estimate: 200 with the finished job, or 202 when it did not finish within the API's time limit. */
  async estimate(request: JobRequest, options: { idempotencyKey?: string; signal?: AbortSignal } = {}): Promise<{ status: number; job: JobView }> {
    const { body, response } = await this.call<JobView>('POST', 'estimate', {
      body: request,
      headers: { 'idempotency-key': options.idempotencyKey ?? randomUUID() },
      retry: true,
      signal: options.signal,
    });
    return { status: response.status, job: body };
  }

  /**
   * Polls GET /jobs/{id} until the job ends, reporting every view it reads. The interval may depend
   * on how long the wait has lasted (poll a short job often, a long one less).
   */
  async waitForJob(
    jobId: string,
    options: { intervalMs?: number | ((elapsedMs: number) => number); signal?: AbortSignal; onUpdate?: (job: JobView) => void } = {},
  ): Promise<JobView> {
    const interval = options.intervalMs ?? 250;
    const started = Date.now();
    for (;;) {
      const job = await this.getJob(jobId, options.signal);
      options.onUpdate?.(job);
      if (job.status !== 'RUNNING') return job;
      await sleep(typeof interval === 'number' ? interval : interval(Date.now() - started), options.signal);
    }
  }
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

function toApiError(response: ApiResponse): ApiError {
  const error = (response.body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  // API Gateway's own answers (403 from IAM auth, 429 throttling) use `message` or `Message` at the top.
  const top = response.body as { message?: unknown; Message?: unknown } | undefined;
  const code = typeof error?.code === 'string' ? error.code : `HTTP${response.status}`;
  const message =
    typeof error?.message === 'string'
      ? error.message
      : typeof top?.message === 'string'
        ? top.message
        : typeof top?.Message === 'string'
          ? top.Message
          : response.text.slice(0, 300) || `HTTP ${response.status}`;
  return new ApiError(response.status, code, message, response);
}
