// The Lambda proxy integration's event (REST API, payload format 1.0), built from a request
// the way API Gateway builds it: headers in their original case, single and multi values,
// query string and path parameters, and the request context with the caller's identity.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { ApiModel, ResourceNode } from './model.js';
import { clientRecord } from './record.js';

/** The IAM user who signed a request (AWS_IAM), as API Gateway reports it in `requestContext.identity`. */
export interface Caller {
  accessKey: string;
  /** The user's unique id (`AIDA...`): `caller` and `user`. */
  principalId: string;
  userArn: string;
}

export interface ProxyEventInput {
  req: Pick<IncomingMessage, 'httpVersion'>;
  api: Pick<ApiModel, 'stageName' | 'stageVariables' | 'deploymentId' | 'id'>;
  /** The matched resource. */
  node: Pick<ResourceNode, 'id' | 'path'>;
  /** The path below the stage, e.g. `/jobs/abc`. */
  resourcePath: string;
  /** The path as requested, with the stage, e.g. `/prod/jobs/abc`. */
  rawPath: string;
  method: string;
  headers: Record<string, string>;
  multiValueHeaders: Record<string, string[]>;
  query: URLSearchParams;
  pathParameters: Record<string, string>;
  requestId: string;
  extendedRequestId: string;
  requestTimeEpoch: number;
  accountId: string;
  domainName: string;
  sourceIp: string;
  userAgent: string;
  /** Present when the request was signed (AWS_IAM). */
  identity?: Caller | undefined;
  /** Absent for an empty body. */
  body?: Buffer | undefined;
  /** The content type is one of the API's binary media types: the body goes base64-encoded. */
  binary: boolean;
}

export function proxyEvent(input: ProxyEventInput): Record<string, unknown> {
  const { api, node, method, identity, query } = input;
  const single = lastValues(query);
  const hasQuery = Object.keys(single).length > 0;
  return {
    resource: node.path,
    path: input.resourcePath,
    httpMethod: method,
    headers: input.headers,
    multiValueHeaders: input.multiValueHeaders,
    queryStringParameters: hasQuery ? single : null,
    multiValueQueryStringParameters: hasQuery ? allValues(query) : null,
    pathParameters: Object.keys(input.pathParameters).length ? input.pathParameters : null,
    stageVariables: api.stageVariables,
    requestContext: {
      resourceId: node.id,
      resourcePath: node.path,
      httpMethod: method,
      extendedRequestId: input.extendedRequestId,
      requestTime: clfDate(new Date(input.requestTimeEpoch)),
      path: input.rawPath,
      accountId: input.accountId,
      protocol: `HTTP/${input.req.httpVersion}`,
      stage: api.stageName,
      domainPrefix: input.domainName.split('.')[0],
      requestTimeEpoch: input.requestTimeEpoch,
      requestId: input.requestId,
      identity: {
        cognitoIdentityPoolId: null,
        accountId: identity ? input.accountId : null,
        cognitoIdentityId: null,
        caller: identity ? identity.principalId : null,
        sourceIp: input.sourceIp,
        principalOrgId: null,
        accessKey: identity ? identity.accessKey : null,
        cognitoAuthenticationType: null,
        cognitoAuthenticationProvider: null,
        userArn: identity ? identity.userArn : null,
        userAgent: input.userAgent || null,
        user: identity ? identity.principalId : null,
      },
      domainName: input.domainName,
      deploymentId: api.deploymentId,
      apiId: api.id,
    },
    body: input.body === undefined ? null : input.binary ? input.body.toString('base64') : input.body.toString('utf8'),
    isBase64Encoded: input.body !== undefined && input.binary,
  };
}

/** Headers as API Gateway passes them: original case, last value in `headers`, all in `multiValueHeaders`. */
export function eventHeaders(req: Pick<IncomingMessage, 'rawHeaders' | 'socket'>): { headers: Record<string, string>; multiValueHeaders: Record<string, string[]> } {
  const headers = clientRecord<string>();
  const multiValueHeaders = clientRecord<string[]>();
  const names = new Map<string, string>();
  const add = (name: string, value: string): void => {
    const key = names.get(name.toLowerCase()) ?? name;
    names.set(name.toLowerCase(), key);
    headers[key] = value;
    (multiValueHeaders[key] ??= []).push(value);
  };
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) add(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  const ip = normaliseIp(req.socket.remoteAddress);
  const forwarded = headers[names.get('x-forwarded-for') ?? ''];
  add('X-Forwarded-For', forwarded ? `${forwarded}, ${ip}` : ip);
  add('X-Forwarded-Port', String(req.socket.localPort ?? ''));
  add('X-Forwarded-Proto', 'http');
  add('X-Amzn-Trace-Id', `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`);
  return { headers, multiValueHeaders };
}

export function normaliseIp(ip: string | undefined): string {
  return (ip ?? '127.0.0.1').replace(/^::ffff:/, '');
}

export function lastValues(params: URLSearchParams): Record<string, string> {
  const out = clientRecord<string>();
  for (const [k, v] of params) out[k] = v;
  return out;
}

function allValues(params: URLSearchParams): Record<string, string[]> {
  const out = clientRecord<string[]>();
  for (const [k, v] of params) (out[k] ??= []).push(v);
  return out;
}

/** `[dd/MMM/yyyy:HH:mm:ss +0000]` as in `requestContext.requestTime`. */
function clfDate(d: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
