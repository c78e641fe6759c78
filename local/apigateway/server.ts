// API Gateway (REST, v1) on 127.0.0.1: the template's routes under /<stage>/,
// IAM (SigV4) authorization, request validation, stage throttling, Lambda proxy
// integration (the event is built by proxy-event.ts) and the template's gateway responses.
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ThrottledError, StoppedError, type InvocationResult } from '../lambda/runtime.js';
import type { LambdaService } from '../lambda/service.js';
import { headerValue, readBody } from '../http.js';
import type { ApiModel, MethodDef, ResourceNode } from './model.js';
import { renderGatewayResponse, type GatewayError, type RequestFacts } from './responses.js';
import { verifySigV4, type SigningKeys } from './sigv4.js';
import { ModelValidator } from './validation.js';
import { clientRecord } from './record.js';
import { warning } from '../log.js';
import { Newest } from '../newest.js';
import { eventHeaders, lastValues, normaliseIp, proxyEvent, type Caller } from './proxy-event.js';

/** API Gateway cuts an integration at 29 s. */
export const DEFAULT_INTEGRATION_TIMEOUT_MS = 29_000;
/** REST API payload limit. */
const MAX_REQUEST_BYTES = 10 * 1024 * 1024;
const PROXY_RESPONSE_KEYS = new Set(['statusCode', 'headers', 'multiValueHeaders', 'body', 'isBase64Encoded']);

/** An IAM user whose signed requests AWS_IAM methods accept. */
export interface IamPrincipal extends SigningKeys {
  /** The user's unique id, `AIDA...`. */
  principalId: string;
  /** `arn:aws:iam::<account>:user/<name>` */
  userArn: string;
}

export interface ApiGatewayOptions {
  api: ApiModel;
  lambda: LambdaService;
  /** The users whose signatures AWS_IAM methods accept, each reported as the caller of its requests. */
  principals: readonly IamPrincipal[];
  region: string;
  accountId: string;
  /** Overrides the integration timeout (29 s, or the method's TimeoutInMillis). */
  integrationTimeoutMs?: number;
  log: (line: string) => void;
}

/** One request the stage answered. */
export interface ApiRequestRecord {
  method: string;
  /** As requested, without the query string: `/prod/jobs/<id>`. */
  path: string;
  status: number;
  /** When it arrived (ms since the epoch). */
  at: number;
  /**
   * Whether API Gateway bills it: a REST API bills the requests that pass authorization, those
   * failing request validation included; not those unauthorized, throttled or matching no route.
   */
  billed: boolean;
}

const MAX_RECORDS = 100_000;

interface Matched {
  node: ResourceNode;
  method: MethodDef;
  pathParameters: Record<string, string>;
}

export class ApiGateway {
  private readonly validator: ModelValidator;
  private tokens: number;
  private lastRefill = Date.now();
  /** The newest requests answered, oldest first. */
  readonly requests = new Newest<ApiRequestRecord>(MAX_RECORDS);

  constructor(private readonly opts: ApiGatewayOptions) {
    this.validator = new ModelValidator(opts.api.models, opts.api.id);
    this.tokens = opts.api.throttle?.burstLimit ?? 0;
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    const url = req.url ?? '/';
    const record: ApiRequestRecord = { method: (req.method ?? 'GET').toUpperCase(), path: url.split('?')[0]!, status: 0, at: Date.now(), billed: false };
    this.serve(req, res, record)
      .then((status) => {
        this.requests.push({ ...record, status });
        this.opts.log(`[api] ${req.method} ${req.url} ${status} (${(performance.now() - started).toFixed(1)} ms)`);
      })
      .catch((err: unknown) => {
        this.requests.push({ ...record, status: 500 });
        this.opts.log(`[api] internal error: ${(err as Error).stack ?? String(err)}`);
        if (!res.headersSent) {
          res.writeHead(500, { 'Content-Type': 'application/json' });
          res.end('{"message":"Internal server error"}');
        } else res.destroy();
      });
  };

  /** Answers a request; returns its status, and marks `record` billed once the request passes authorization. */
  private async serve(req: IncomingMessage, res: ServerResponse, record: ApiRequestRecord): Promise<number> {
    const api = this.opts.api;
    const requestId = randomUUID();
    const extendedRequestId = `${randomBytes(12).toString('base64url').slice(0, 15)}=`;
    const requestTimeEpoch = Date.now();
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const rawPath = q >= 0 ? rawUrl.slice(0, q) : rawUrl;
    const search = new URLSearchParams(q >= 0 ? rawUrl.slice(q + 1) : '');
    const method = (req.method ?? 'GET').toUpperCase();
    const { headers, multiValueHeaders } = eventHeaders(req);
    const sourceIp = normaliseIp(req.socket.remoteAddress);
    const query = lastValues(search);
    const facts: RequestFacts = {
      requestId,
      extendedRequestId,
      stage: api.stageName,
      apiId: api.id,
      accountId: this.opts.accountId,
      domainName: headerValue(req, 'host') ?? '127.0.0.1',
      httpMethod: method,
      path: rawPath,
      resourcePath: '',
      sourceIp,
      userAgent: headerValue(req, 'user-agent') ?? '',
      headers,
      query,
      pathParameters: {},
    };
    const gatewayError = (error: GatewayError): number => {
      const out = renderGatewayResponse(api.gatewayResponses, error, facts);
      send(res, out.status, out.headers, Buffer.from(out.body));
      return out.status;
    };

    const stagePrefix = `/${api.stageName}`;
    if (rawPath !== stagePrefix && !rawPath.startsWith(`${stagePrefix}/`)) {
      await readBody(req, 0);
      send(res, 403, { 'Content-Type': 'application/json', 'x-amzn-RequestId': requestId, 'x-amzn-ErrorType': 'ForbiddenException' }, Buffer.from('{"message":"Forbidden"}'));
      return 403;
    }
    const { body, size } = await readBody(req, MAX_REQUEST_BYTES);
    if (size > MAX_REQUEST_BYTES) {
      return gatewayError({ type: 'REQUEST_TOO_LARGE', message: 'Request Too Long', errorType: 'RequestTooLargeException' });
    }
    const resourcePath = rawPath.slice(stagePrefix.length) || '/';
    const matched = this.route(resourcePath, method);
    if (!matched) {
      // REST APIs answer an unknown route like an unsigned request.
      return gatewayError({ type: 'MISSING_AUTHENTICATION_TOKEN', message: 'Missing Authentication Token', errorType: 'MissingAuthenticationTokenException' });
    }
    facts.resourcePath = matched.node.path;
    facts.pathParameters = matched.pathParameters;

    if (!this.takeToken()) {
      return gatewayError({ type: 'THROTTLED', message: 'Too Many Requests', errorType: 'TooManyRequestsException' });
    }

    let identity: Caller | undefined;
    if (matched.method.authorizationType === 'AWS_IAM') {
      const auth = await verifySigV4({ method, rawPath, query: search, rawHeaders: req.rawHeaders, body }, this.opts.principals, this.opts.region);
      if (!auth.ok) return gatewayError({ type: auth.responseType, message: auth.message, errorType: auth.errorType });
      const { accessKeyId, principalId, userArn } = auth.principal;
      identity = { accessKey: accessKeyId, principalId, userArn };
    }
    record.billed = true;

    if (matched.method.validateParameters) {
      const missing = missingParameters(matched.method, headers, query);
      if (missing.length > 0) {
        return gatewayError({
          type: 'BAD_REQUEST_PARAMETERS',
          message: `Missing required request parameters: [${missing.join(', ')}]`,
          errorType: 'BadRequestException',
        });
      }
    }
    const contentType = (headerValue(req, 'content-type') ?? 'application/json').split(';')[0]!.trim().toLowerCase();
    if (matched.method.validateBody) {
      const model = matched.method.requestModels[contentType] ?? matched.method.requestModels.$default;
      const problem = model ? this.validator.validate(model, body.toString('utf8')) : undefined;
      if (problem) {
        return gatewayError({ type: 'BAD_REQUEST_BODY', message: 'Invalid request body', errorType: 'BadRequestException', validationErrorString: problem });
      }
    }

    const integration = matched.method.integration;
    if (integration.type === 'MOCK') {
      send(res, integration.statusCode, { 'Content-Type': 'application/json', 'x-amzn-RequestId': requestId, ...integration.headers }, Buffer.alloc(0));
      return integration.statusCode;
    }
    const internal: GatewayError = { type: 'API_CONFIGURATION_ERROR', message: 'Internal server error', errorType: 'InternalServerErrorException' };
    if (integration.type !== 'AWS_PROXY') {
      this.opts.log(warning(`api: ${requestId} ${integration.description} is not supported locally`));
      return gatewayError(internal);
    }
    const target = this.opts.lambda.find(integration.functionName);
    if (!target) {
      this.opts.log(warning(`api: ${requestId} integration function ${integration.functionName} not found`));
      return gatewayError(internal);
    }

    const binary = isBinary(contentType, api.binaryMediaTypes);
    const event = proxyEvent({
      req,
      api,
      node: matched.node,
      resourcePath,
      rawPath,
      method,
      headers,
      multiValueHeaders,
      query: search,
      pathParameters: matched.pathParameters,
      requestId,
      extendedRequestId,
      requestTimeEpoch,
      accountId: this.opts.accountId,
      domainName: facts.domainName,
      sourceIp,
      userAgent: facts.userAgent,
      identity,
      body: size === 0 ? undefined : body,
      binary,
    });

    const timeoutMs = this.opts.integrationTimeoutMs ?? integration.timeoutMs ?? DEFAULT_INTEGRATION_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    let result: InvocationResult | 'timeout';
    try {
      // The invocation goes on after a timeout, as it does behind a deployed API.
      const invocation = this.opts.lambda.invokeSync(target, JSON.stringify(event));
      invocation.catch(() => undefined);
      result = await Promise.race([invocation, timedOut]);
    } catch (err) {
      if (err instanceof ThrottledError) {
        // Lambda's 429 reaches the client as a 500 (INTEGRATION_FAILURE).
        this.opts.log(`[api] ${requestId} function ${target.def.name} throttled`);
        return gatewayError({ type: 'INTEGRATION_FAILURE', message: 'Internal server error', errorType: 'InternalServerErrorException', status: 500 });
      }
      if (err instanceof StoppedError) return gatewayError(internal);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    if (result === 'timeout') {
      return gatewayError({ type: 'INTEGRATION_TIMEOUT', message: 'Endpoint request timed out', errorType: 'InternalServerErrorException' });
    }
    const badGateway: GatewayError = { type: 'DEFAULT_5XX', message: 'Internal server error', errorType: 'InternalServerErrorException', status: 502 };
    if (!result.ok) {
      this.opts.log(`[api] ${requestId} Lambda execution failed with status 200 due to customer function error: ${result.error?.errorMessage ?? ''}`);
      return gatewayError(badGateway);
    }
    const response = proxyResponse(result.payload);
    if (!response) {
      this.opts.log(`[api] ${requestId} Execution failed due to configuration error: Malformed Lambda proxy response`);
      return gatewayError(badGateway);
    }
    send(res, response.status, { 'Content-Type': 'application/json', ...response.headers, 'x-amzn-RequestId': requestId, 'x-amz-apigw-id': extendedRequestId }, response.body);
    return response.status;
  }

  private route(path: string, method: string): Matched | undefined {
    const segments = path.split('/').filter((s) => s !== '');
    const found = matchNode(this.opts.api.root, segments, 0, {});
    if (!found) return undefined;
    const m = found.node.methods.get(method) ?? found.node.methods.get('ANY');
    return m ? { node: found.node, method: m, pathParameters: found.params } : undefined;
  }

  /** Stage throttling: a token bucket with the stage's rate and burst, when the template sets them. */
  private takeToken(): boolean {
    const t = this.opts.api.throttle;
    if (!t) return true;
    const now = Date.now();
    this.tokens = Math.min(t.burstLimit, this.tokens + ((now - this.lastRefill) / 1000) * t.rateLimit);
    this.lastRefill = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

function matchNode(
  node: ResourceNode,
  segments: string[],
  i: number,
  params: Record<string, string>,
): { node: ResourceNode; params: Record<string, string> } | undefined {
  if (i === segments.length) return { node, params };
  const segment = safeDecode(segments[i]!);
  // Literal parts win over {param}, which wins over {proxy+}.
  for (const child of node.children) {
    if (!child.pathPart.startsWith('{') && child.pathPart === segment) {
      const r = matchNode(child, segments, i + 1, params);
      if (r) return r;
    }
  }
  for (const child of node.children) {
    const m = /^\{([^}+]+)\}$/.exec(child.pathPart);
    if (m) {
      const r = matchNode(child, segments, i + 1, { ...params, [m[1]!]: segment });
      if (r) return r;
    }
  }
  for (const child of node.children) {
    const m = /^\{([^}]+)\+\}$/.exec(child.pathPart);
    if (m) return { node: child, params: { ...params, [m[1]!]: segments.slice(i).map(safeDecode).join('/') } };
  }
  return undefined;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function missingParameters(method: MethodDef, headers: Record<string, string>, query: Record<string, string>): string[] {
  const lowerHeaders = new Set(Object.keys(headers).map((h) => h.toLowerCase()));
  const missing: string[] = [];
  for (const [key, required] of Object.entries(method.requestParameters)) {
    if (!required) continue;
    const m = /^method\.request\.(querystring|header)\.(.+)$/.exec(key);
    if (!m) continue;
    const present = m[1] === 'header' ? lowerHeaders.has(m[2]!.toLowerCase()) : m[2]! in query;
    if (!present) missing.push(m[2]!);
  }
  return missing;
}

function isBinary(contentType: string, types: string[]): boolean {
  return types.some((t) => {
    const pattern = t.toLowerCase().replace(/~1/g, '/');
    if (pattern === '*/*') return true;
    if (pattern.endsWith('/*')) return contentType.startsWith(pattern.slice(0, -1));
    return pattern === contentType;
  });
}

/** Checks the function's answer is a Lambda proxy response; undefined when malformed. */
function proxyResponse(payload: string): { status: number; headers: Record<string, string>; body: Buffer } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const r = value as Record<string, unknown>;
  if (Object.keys(r).some((k) => !PROXY_RESPONSE_KEYS.has(k))) return undefined;
  const status = typeof r.statusCode === 'string' && /^\d{3}$/.test(r.statusCode) ? Number(r.statusCode) : r.statusCode;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) return undefined;
  const headers = clientRecord<string>();
  const scalar = (v: unknown): v is string | number | boolean => ['string', 'number', 'boolean'].includes(typeof v);
  if (r.multiValueHeaders !== undefined && r.multiValueHeaders !== null) {
    if (typeof r.multiValueHeaders !== 'object') return undefined;
    for (const [k, list] of Object.entries(r.multiValueHeaders as Record<string, unknown>)) {
      if (!Array.isArray(list) || !list.every(scalar)) return undefined;
      headers[k] = list.map(String).join(', ');
    }
  }
  if (r.headers !== undefined && r.headers !== null) {
    if (typeof r.headers !== 'object') return undefined;
    for (const [k, v] of Object.entries(r.headers as Record<string, unknown>)) {
      if (!scalar(v)) return undefined;
      headers[k] = String(v);
    }
  }
  if (r.body !== undefined && r.body !== null && typeof r.body !== 'string') return undefined;
  if (r.isBase64Encoded !== undefined && typeof r.isBase64Encoded !== 'boolean') return undefined;
  const text = typeof r.body === 'string' ? r.body : '';
  return { status, headers, body: r.isBase64Encoded ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8') };
}

/** Writes a response; a later header overrides an earlier one of the same name, whatever its case. */
function send(res: ServerResponse, status: number, headers: Record<string, string>, body: Buffer): void {
  const byName = new Map<string, [string, string]>();
  for (const [k, v] of Object.entries(headers)) {
    const lower = k.toLowerCase();
    if (['content-length', 'transfer-encoding', 'connection'].includes(lower)) continue;
    byName.set(lower, [k, v]);
  }
  const out: Record<string, string> = Object.fromEntries(byName.values());
  out['Content-Length'] = String(body.length);
  res.writeHead(status, out);
  res.end(body);
}
