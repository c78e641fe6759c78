import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { JobRequest, JobView } from '../../functions/shared/job.js';
import { ApiError, type ApiClient } from '../api-client.js';
import { JobWatch, errorBody, summaryOf } from './jobs.js';
import { listJobs, type JobSummary } from './list-jobs.js';

export interface DashboardOptions {
  /** The signed client every API call goes through: the browser never holds credentials. */
  client: ApiClient;
  /** Port on 127.0.0.1 (default: a free one). */
  port?: number;
  /** Least time between two reads of a running job (default 1 s). */
  pollMs?: number;
  /** Shown in the page's header: which API it drives. */
  apiLabel?: string;
}

export interface Dashboard {
  /** `http://127.0.0.1:PORT/?token=...`: the only way in. */
  url: string;
  port: number;
  token: string;
  /** Lists a job submitted by other means (npm start's), known at once without a read. */
  follow(job: JobView): void;
  close(): Promise<void>;
}

const PAGE_ENTRY = fileURLToPath(new URL('./page/main.ts', import.meta.url));
/** Rows of the jobs list. */
const LIST_LIMIT = 25;
/** A job request is a few dozen bytes. */
const MAX_BODY_BYTES = 4096;

/** The page's script and styles, bundled once (uPlot's CSS included): nothing is fetched from elsewhere. */
async function bundlePage(): Promise<{ js: string; css: string }> {
  const result = await build({
    entryPoints: [PAGE_ENTRY],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    write: false,
    outdir: 'dashboard',
    logLevel: 'silent',
  });
  const file = (ext: string) => result.outputFiles.find((f) => f.path.endsWith(ext))?.text ?? '';
  return { js: file('.js'), css: file('.css') };
}

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  // The URL carries the token: never send it on as a Referer.
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
};

function pageHtml(apiLabel: string, token: string): string {
  const label = apiLabel.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>π dashboard</title>
<link rel="stylesheet" href="/app.css?token=${token}">
<script type="module" src="/app.js?token=${token}"></script>
</head>
<body data-api="${label}" data-token="${token}">
<noscript>The dashboard needs JavaScript.</noscript>
</body>
</html>
`;
}

/**
 * The dashboard's HTTP server on 127.0.0.1: the page, and a small API over the signed client.
 * Every request must carry the token (the URL's `?token=`, or the page's own requests' header
 * `x-dashboard-token`: no cookie, which every port of 127.0.0.1 would receive), come to 127.0.0.1:PORT
 * or localhost:PORT by name (a rebound DNS name is refused) and, when it says where it comes from,
 * come from the page itself.
 */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const { client } = options;
  const token = randomBytes(32).toString('base64url');
  const page = await bundlePage();
  const html = pageHtml(options.apiLabel ?? client.endpoint.href, token);
  const watch = new JobWatch(client, { ...(options.pollMs !== undefined && { pollMs: options.pollMs }) });
  const submitted: JobSummary[] = [];
  let port = 0;
  const follow = (view: JobView) => {
    watch.remember(view);
    if (!submitted.some((job) => job.jobId === view.jobId)) submitted.push(summaryOf(view));
  };
  const allowed = (request: IncomingMessage): boolean => {
    const host = request.headers.host;
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) return false;
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== `http://${host}`) return false;
    const fromHeader = request.headers['x-dashboard-token'];
    const given = typeof fromHeader === 'string' ? fromHeader : new URL(request.url!, `http://${host}`).searchParams.get('token');
    return given !== null && sameToken(given, token);
  };

  const server: Server = createServer((request, response) => {
    // Only a path ("/..." but not "//..."): an absolute or malformed target is refused before it is parsed.
    if (!/^\/(?!\/)/.test(request.url ?? '')) return send(response, 400, 'text/plain; charset=utf-8', 'Bad Request');
    let access: boolean;
    try {
      access = allowed(request);
    } catch {
      return send(response, 400, 'text/plain; charset=utf-8', 'Bad Request');
    }
    if (!access) return send(response, 403, 'text/plain; charset=utf-8', 'Forbidden');
    route(request, response).catch((error: unknown) => {
      if (!response.headersSent) sendJson(response, 500, { error: { code: 'InternalError', message: (error as Error).message } });
      else response.end();
    });
  });

  async function route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const { pathname } = new URL(request.url ?? '/', 'http://dashboard');
    const method = request.method ?? 'GET';
    const jobPath = /^\/api\/jobs\/([\w-]{1,100})(\/events)?$/.exec(pathname);
    if (method === 'GET' && pathname === '/') return send(response, 200, 'text/html; charset=utf-8', html);
    if (method === 'GET' && pathname === '/app.js') return send(response, 200, 'text/javascript; charset=utf-8', page.js);
    if (method === 'GET' && pathname === '/app.css') return send(response, 200, 'text/css; charset=utf-8', page.css);
    if (method === 'GET' && pathname === '/favicon.ico') return send(response, 204, 'text/plain', '');
    if (pathname === '/api/jobs' && method === 'GET') return listRoute(response);
    if (pathname === '/api/jobs' && method === 'POST') return submitRoute(request, response);
    if (jobPath && jobPath[2] && method === 'GET') return eventsRoute(request, response, jobPath[1]!);
    if (jobPath && !jobPath[2] && method === 'DELETE') return cancelRoute(response, jobPath[1]!);
    sendJson(response, 404, { error: { code: 'NotFound', message: `no route ${method} ${pathname}` } });
  }

  async function listRoute(response: ServerResponse): Promise<void> {
    try {
      const { jobs } = await listJobs(client, submitted, LIST_LIMIT);
      sendJson(response, 200, { jobs: await watch.rows(jobs) });
    } catch (error) {
      sendJson(response, error instanceof ApiError ? error.status : 502, { error: errorBody(error) });
    }
  }

  async function submitRoute(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const text = await readBody(request);
    let body: unknown;
    try {
      body = text === undefined ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (body === undefined) {
      return sendJson(response, 400, { error: { code: 'InvalidJson', message: `the body must be JSON of at most ${MAX_BODY_BYTES} bytes` } });
    }
    try {
      // The API validates: whatever the page sent goes to it as is, and its answer comes back.
      const job = await client.submitJob(body as JobRequest);
      const { location: _location, ...view } = job;
      follow(view);
      sendJson(response, 202, view);
    } catch (error) {
      sendJson(response, error instanceof ApiError ? error.status : 502, { error: errorBody(error) });
    }
  }

  async function cancelRoute(response: ServerResponse, jobId: string): Promise<void> {
    try {
      sendJson(response, 200, watch.remember(await client.cancelJob(jobId)));
    } catch (error) {
      sendJson(response, error instanceof ApiError ? error.status : 502, { error: errorBody(error) });
    }
  }

  function eventsRoute(request: IncomingMessage, response: ServerResponse, jobId: string): void {
    response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' });
    const event = (name: string, data: unknown) => response.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
    event('history', { points: watch.history(jobId) });
    const unsubscribe = watch.subscribe(jobId, (update) => {
      if (update.type === 'failure') {
        event('failure', { error: update.error });
        return end();
      }
      event('job', update.view);
      if (update.view.status !== 'RUNNING') end();
    });
    function end() {
      unsubscribe();
      response.end();
    }
    request.on('close', unsubscribe);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    port,
    token,
    follow,
    close: () =>
      new Promise<void>((resolve) => {
        watch.close();
        server.close(() => resolve());
        // Event streams stay open until the job ends: end them now.
        server.closeAllConnections();
      }),
  };
}

function sameToken(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function readBody(request: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    request.on('end', () => resolve(size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function send(response: ServerResponse, status: number, type: string, body: string): void {
  response.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type });
  response.end(body);
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  send(response, status, 'application/json; charset=utf-8', JSON.stringify(body));
}
