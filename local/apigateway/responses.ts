// Gateway responses: the errors API Gateway itself answers with, rendered from
// the template's AWS::ApiGateway::GatewayResponse (or the built-in defaults).
import type { GatewayResponseDef } from './model.js';

export type ResponseType =
  | 'ACCESS_DENIED'
  | 'API_CONFIGURATION_ERROR'
  | 'BAD_REQUEST_BODY'
  | 'BAD_REQUEST_PARAMETERS'
  | 'DEFAULT_4XX'
  | 'DEFAULT_5XX'
  | 'EXPIRED_TOKEN'
  | 'INTEGRATION_FAILURE'
  | 'INTEGRATION_TIMEOUT'
  | 'INVALID_SIGNATURE'
  | 'MISSING_AUTHENTICATION_TOKEN'
  | 'REQUEST_TOO_LARGE'
  | 'THROTTLED'
  | 'UNSUPPORTED_MEDIA_TYPE';

const DEFAULT_STATUS: Record<ResponseType, number> = {
  ACCESS_DENIED: 403,
  API_CONFIGURATION_ERROR: 500,
  BAD_REQUEST_BODY: 400,
  BAD_REQUEST_PARAMETERS: 400,
  DEFAULT_4XX: 400,
  DEFAULT_5XX: 500,
  EXPIRED_TOKEN: 403,
  INTEGRATION_FAILURE: 504,
  INTEGRATION_TIMEOUT: 504,
  INVALID_SIGNATURE: 403,
  MISSING_AUTHENTICATION_TOKEN: 403,
  REQUEST_TOO_LARGE: 413,
  THROTTLED: 429,
  UNSUPPORTED_MEDIA_TYPE: 415,
};

const DEFAULT_TEMPLATE = '{"message":$context.error.messageString}';

export interface GatewayError {
  type: ResponseType;
  message: string;
  /** The `x-amzn-ErrorType` header API Gateway sends. */
  errorType: string;
  /** Overrides the type's default status (a malformed Lambda response is a 502 DEFAULT_5XX). */
  status?: number;
  validationErrorString?: string;
}

export interface RequestFacts {
  requestId: string;
  extendedRequestId: string;
  stage: string;
  apiId: string;
  accountId: string;
  domainName: string;
  httpMethod: string;
  path: string;
  resourcePath: string;
  sourceIp: string;
  userAgent: string;
  headers: Record<string, string>;
  query: Record<string, string>;
  pathParameters: Record<string, string>;
}

export interface RenderedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function renderGatewayResponse(
  responses: Map<string, GatewayResponseDef>,
  error: GatewayError,
  facts: RequestFacts,
): RenderedResponse {
  const defaultStatus = error.status ?? DEFAULT_STATUS[error.type];
  const fallbackType = defaultStatus >= 500 ? 'DEFAULT_5XX' : 'DEFAULT_4XX';
  const specific = responses.get(error.type);
  const fallback = responses.get(fallbackType);
  const def = specific ?? fallback;
  // A status set on DEFAULT_4XX/5XX applies to every response type of that class left unset.
  const status = specific?.statusCode ?? fallback?.statusCode ?? defaultStatus;
  const templates = def?.templates ?? {};
  const contentType = 'application/json' in templates ? 'application/json' : (Object.keys(templates)[0] ?? 'application/json');
  const template = templates[contentType] ?? DEFAULT_TEMPLATE;
  const context = contextValues(error, facts);
  const headers: Record<string, string> = {
    'Content-Type': contentType,
    'x-amzn-RequestId': facts.requestId,
    'x-amz-apigw-id': facts.extendedRequestId,
    'x-amzn-ErrorType': error.errorType,
  };
  for (const [key, expr] of Object.entries(def?.parameters ?? {})) {
    const name = /^gatewayresponse\.header\.(.+)$/.exec(key)?.[1];
    if (!name) continue;
    const value = parameterValue(expr, facts, context);
    if (value !== undefined) headers[name] = value;
  }
  return { status, headers, body: renderTemplate(template, context) };
}

function contextValues(error: GatewayError, facts: RequestFacts): Record<string, string> {
  return {
    'context.error.message': error.message,
    'context.error.messageString': JSON.stringify(error.message),
    'context.error.responseType': error.type,
    // API Gateway inserts it escaped for a JSON string, without the quotes.
    'context.error.validationErrorString': JSON.stringify(error.validationErrorString ?? '').slice(1, -1),
    'context.requestId': facts.requestId,
    'context.extendedRequestId': facts.extendedRequestId,
    'context.stage': facts.stage,
    'context.apiId': facts.apiId,
    'context.accountId': facts.accountId,
    'context.domainName': facts.domainName,
    'context.httpMethod': facts.httpMethod,
    'context.path': facts.path,
    'context.resourcePath': facts.resourcePath,
    'context.identity.sourceIp': facts.sourceIp,
    'context.identity.userAgent': facts.userAgent,
  };
}

/** Substitutes `$context...` references (`$x`, `${x}`, `$!x`, `$!{x}`); unknown ones stay as written, as in VTL. */
function renderTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\$!?(?:\{(context(?:\.\w+)+)\}|(context(?:\.\w+)+))/g, (whole, braced?: string, bare?: string) => {
    const key = braced ?? bare!;
    return key in values ? values[key]! : whole;
  });
}

function parameterValue(expr: string, facts: RequestFacts, context: Record<string, string>): string | undefined {
  const literal = /^'(.*)'$/s.exec(expr);
  if (literal) return literal[1];
  const m = /^method\.request\.(header|querystring|path)\.(.+)$/.exec(expr);
  if (m) {
    const [, where, name] = m;
    if (where === 'header') {
      const key = Object.keys(facts.headers).find((h) => h.toLowerCase() === name!.toLowerCase());
      return key === undefined ? undefined : facts.headers[key];
    }
    return where === 'querystring' ? facts.query[name!] : facts.pathParameters[name!];
  }
  return context[expr];
}
