// The v1 proxy event, built without a server.
import { describe, expect, it } from 'vitest';
import { eventHeaders, proxyEvent, type ProxyEventInput } from '../../local/apigateway/proxy-event.js';

const base = (over: Partial<ProxyEventInput> = {}): ProxyEventInput => ({
  req: { httpVersion: '1.1' },
  api: { stageName: 'prod', stageVariables: null as unknown as Record<string, string>, deploymentId: 'dep123', id: 'api123' },
  node: { id: 'res1', path: '/items/{id}' },
  resourcePath: '/items/abc d',
  rawPath: '/prod/items/abc%20d',
  method: 'GET',
  headers: { Host: 'h.example' },
  multiValueHeaders: { Host: ['h.example'] },
  query: new URLSearchParams('tag=x&tag=y&q=1'),
  pathParameters: { id: 'abc d' },
  requestId: 'req-1',
  extendedRequestId: 'ext=',
  requestTimeEpoch: Date.UTC(2024, 1, 3, 4, 5, 6),
  accountId: '123456789012',
  domainName: 'abc.execute-api.example',
  sourceIp: '127.0.0.1',
  userAgent: 'ua',
  binary: false,
  ...over,
});

describe('proxy event', () => {
  it('has API Gateway v1 fields: last and all query values, path parameters, request context', () => {
    const e = proxyEvent(base()) as Record<string, any>;
    expect(e.resource).toBe('/items/{id}');
    expect(e.path).toBe('/items/abc d');
    expect(e.httpMethod).toBe('GET');
    expect({ ...e.queryStringParameters }).toEqual({ tag: 'y', q: '1' });
    expect({ ...e.multiValueQueryStringParameters }).toEqual({ tag: ['x', 'y'], q: ['1'] });
    expect(e.pathParameters).toEqual({ id: 'abc d' });
    expect(e.body).toBeNull();
    expect(e.isBase64Encoded).toBe(false);
    expect(e.requestContext).toMatchObject({
      resourceId: 'res1',
      resourcePath: '/items/{id}',
      path: '/prod/items/abc%20d',
      stage: 'prod',
      protocol: 'HTTP/1.1',
      domainPrefix: 'abc',
      requestTime: '03/Feb/2024:04:05:06 +0000',
      requestId: 'req-1',
      apiId: 'api123',
      deploymentId: 'dep123',
    });
    expect(e.requestContext.identity).toMatchObject({ accessKey: null, caller: null, userArn: null, userAgent: 'ua', sourceIp: '127.0.0.1' });
  });

  it('names the caller of a signed request, and nulls empty query and path parameters', () => {
    const caller = { accessKey: 'AKIAX', principalId: 'AIDAX', userArn: 'arn:aws:iam::123456789012:user/x' };
    const e = proxyEvent(base({ identity: caller, query: new URLSearchParams(), pathParameters: {} })) as Record<string, any>;
    expect(e.queryStringParameters).toBeNull();
    expect(e.multiValueQueryStringParameters).toBeNull();
    expect(e.pathParameters).toBeNull();
    expect(e.requestContext.identity).toMatchObject({
      accessKey: 'AKIAX',
      caller: 'AIDAX',
      user: 'AIDAX',
      userArn: 'arn:aws:iam::123456789012:user/x',
      accountId: '123456789012',
    });
  });

  it('passes a text body as is and a binary one base64-encoded', () => {
    const body = Buffer.from([0xff, 0x00, 0x41]);
    expect(proxyEvent(base({ body: Buffer.from('{"a":1}') }))).toMatchObject({ body: '{"a":1}', isBase64Encoded: false });
    expect(proxyEvent(base({ body, binary: true }))).toMatchObject({ body: body.toString('base64'), isBase64Encoded: true });
  });

  it('keeps header names as sent, merges repeated ones, and adds the forwarding headers', () => {
    const req = {
      rawHeaders: ['X-Tag', 'a', 'x-tag', 'b', 'X-Forwarded-For', '10.0.0.1'],
      socket: { remoteAddress: '::ffff:127.0.0.1', localPort: 8080 },
    } as unknown as Parameters<typeof eventHeaders>[0];
    const { headers, multiValueHeaders } = eventHeaders(req);
    expect(headers['X-Tag']).toBe('b');
    expect(multiValueHeaders['X-Tag']).toEqual(['a', 'b']);
    expect(headers['X-Forwarded-For']).toBe('10.0.0.1, 127.0.0.1');
    expect(headers['X-Forwarded-Port']).toBe('8080');
    expect(headers['X-Amzn-Trace-Id']).toMatch(/^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$/);
  });
});
