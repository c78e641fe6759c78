// API Gateway (REST v1) conformance over real HTTP: routing, the proxy event,
// IAM (SigV4) authorization, body validation and gateway responses.
import { mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicFormat } from '../../local/apigateway/sigv4.js';
import { FIXTURE_TEMPLATE, FN, signedFetch, startFixtureCloud, type TestCloud } from './helpers.js';

let t: TestCloud;

beforeAll(async () => {
  // Long enough for a cold start on a busy machine, well below the timeout case's 3 s.
  t = await startFixtureCloud({ integrationTimeoutMs: 1_200 });
});

afterAll(async () => {
  await t?.stop();
});

type ProxyEvent = {
  resource: string;
  path: string;
  httpMethod: string;
  headers: Record<string, string>;
  multiValueHeaders: Record<string, string[]>;
  queryStringParameters: Record<string, string> | null;
  multiValueQueryStringParameters: Record<string, string[]> | null;
  pathParameters: Record<string, string> | null;
  stageVariables: Record<string, string> | null;
  requestContext: Record<string, unknown> & { identity: Record<string, unknown> };
  body: string | null;
  isBase64Encoded: boolean;
};

/** One request written byte for byte (headers end with CRLF; the blank line is added). */
function rawHttp(url: URL, head: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.write(`${head}Connection: close\r\n\r\n`));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head, ...body] = text.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head!)?.[1]), body: body.join('\r\n\r\n') });
    });
  });
}

const apiStarts = (): number => t.logs.filter((l) => l.startsWith(`[${FN.api}] START`)).length;

describe('API Gateway', () => {
  it('routes a signed request to the function with the v1 proxy event', async () => {
    const res = await signedFetch(t.cloud, 'GET', 'items/abc%20d?q=1&tag=x&tag=y', { headers: { 'X-Custom': 'yes' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-handler')).toBe('api');
    expect(res.headers.get('x-multi')).toBe('a, b');
    const requestId = res.headers.get('x-amzn-requestid');
    const event = (await res.json()) as ProxyEvent;
    const port = new URL(t.cloud.apiUrl).port;
    expect(event).toMatchObject({
      resource: '/items/{id}',
      path: '/items/abc%20d',
      httpMethod: 'GET',
      queryStringParameters: { q: '1', tag: 'y' },
      multiValueQueryStringParameters: { q: ['1'], tag: ['x', 'y'] },
      pathParameters: { id: 'abc d' },
      stageVariables: null,
      body: null,
      isBase64Encoded: false,
    });
    expect(event.headers['X-Custom']).toBe('yes');
    expect(event.multiValueHeaders['X-Custom']).toEqual(['yes']);
    expect(event.headers['X-Forwarded-For']).toBe('127.0.0.1');
    expect(event.headers['X-Forwarded-Proto']).toBe('http');
    expect(event.headers.authorization ?? event.headers.Authorization).toMatch(/^AWS4-HMAC-SHA256 /);
    expect(event.requestContext).toMatchObject({
      resourcePath: '/items/{id}',
      httpMethod: 'GET',
      path: '/prod/items/abc%20d',
      accountId: '123456789012',
      protocol: 'HTTP/1.1',
      stage: 'prod',
      requestId,
      domainName: `127.0.0.1:${port}`,
      apiId: expect.stringMatching(/^[0-9a-z]{10}$/),
      requestTimeEpoch: expect.any(Number),
      requestTime: expect.stringMatching(/^\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000$/),
    });
    expect(event.requestContext.identity).toMatchObject({
      sourceIp: '127.0.0.1',
      accessKey: t.cloud.credentials.accessKeyId,
      accountId: '123456789012',
      userArn: expect.stringMatching(/^arn:aws:iam::123456789012:/),
      cognitoIdentityId: null,
    });
  });

  it('passes query parameters and headers named like Object.prototype members through untouched', async () => {
    const res = await signedFetch(t.cloud, 'GET', 'items/x?valueOf&constructor=c&toString=1&toString=2', {
      headers: { valueOf: 'v', constructor: 'k' },
    });
    expect(res.status).toBe(200);
    const event = (await res.json()) as ProxyEvent;
    expect(Object.entries(event.queryStringParameters!)).toEqual([['valueOf', ''], ['constructor', 'c'], ['toString', '2']]);
    expect(Object.entries(event.multiValueQueryStringParameters!)).toEqual([['valueOf', ['']], ['constructor', ['c']], ['toString', ['1', '2']]]);
    expect([event.headers.valueOf, event.headers.constructor]).toEqual(['v', 'k']);
    expect([event.multiValueHeaders.valueOf, event.multiValueHeaders.constructor]).toEqual([['v'], ['k']]);
  });

  it('verifies a signature over a header value with a non-breaking space at its end (not HTTP whitespace)', async () => {
    const res = await signedFetch(t.cloud, 'GET', 'items/x', { headers: { 'x-a': 'a\u00a0' } });
    expect(res.status).toBe(200);
  });

  // Unsigned, on the public method: the signer used here mishandles a `__proto__` query parameter, and
  // fetch drops a `__proto__` header, so these requests are written byte for byte.
  it('takes a header and a query parameter named __proto__ as such', async () => {
    const url = new URL(t.cloud.apiUrl);
    const public_ = await rawHttp(url, `GET ${url.pathname}public/echo?__proto__=p HTTP/1.1\r\nHost: ${url.host}\r\n__proto__: h\r\n`);
    expect(public_.status).toBe(200);
    const event = JSON.parse(public_.body) as ProxyEvent;
    const own = (record: object | null, key: string) => (record ? Object.getOwnPropertyDescriptor(record, key)?.value : undefined);
    expect([own(event.headers, '__proto__'), own(event.multiValueHeaders, '__proto__')]).toEqual(['h', ['h']]);
    expect([own(event.queryStringParameters, '__proto__'), own(event.multiValueQueryStringParameters, '__proto__')]).toEqual(['p', ['p']]);
    // Listed among the signed headers of a (wrong) signature: refused as such, not a 500.
    const amzDate = basicFormat(new Date());
    const credential = `${t.cloud.credentials.accessKeyId}/${amzDate.slice(0, 8)}/us-east-1/execute-api/aws4_request`;
    const signed = await rawHttp(
      url,
      `GET ${url.pathname}items/x HTTP/1.1\r\nHost: ${url.host}\r\n__proto__: h\r\nX-Amz-Date: ${amzDate}\r\n` +
        `Authorization: AWS4-HMAC-SHA256 Credential=${credential}, SignedHeaders=__proto__;host;x-amz-date, Signature=${'0'.repeat(64)}\r\n`,
    );
    expect(signed.status).toBe(403);
    expect(signed.body).toContain('INVALID_SIGNATURE');
  });

  it('passes a signed JSON body that matches the model', async () => {
    const body = JSON.stringify({ name: 'pi', count: 3 });
    const res = await signedFetch(t.cloud, 'POST', 'items', { body, headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(200);
    const event = (await res.json()) as ProxyEvent;
    expect(event.body).toBe(body);
    expect(event.resource).toBe('/items');
    expect(event.pathParameters).toBeNull();
    expect(event.queryStringParameters).toBeNull();
  });

  it('answers an unsigned request to an IAM method with 403 Missing Authentication Token', async () => {
    const before = apiStarts();
    const res = await fetch(new URL('items/abc', t.cloud.apiUrl));
    expect(res.status).toBe(403);
    expect(res.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');
    // Headers and template of the stack's DEFAULT_4XX gateway response.
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(await res.json()).toEqual({ error: { code: 'MISSING_AUTHENTICATION_TOKEN', message: 'Missing Authentication Token' } });
    expect(apiStarts()).toBe(before);
  });

  it('answers a bad signature with 403 INVALID_SIGNATURE', async () => {
    const res = await signedFetch(t.cloud, 'GET', 'items/abc', {
      credentials: { accessKeyId: t.cloud.credentials.accessKeyId, secretAccessKey: 'wrong-secret' },
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('x-amzn-errortype')).toBe('InvalidSignatureException');
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('INVALID_SIGNATURE');
    expect(body.error.message).toMatch(/^The request signature we calculated does not match the signature you provided/);
  });

  it('refuses a signature older than five minutes and one for another region', async () => {
    const old = await signedFetch(t.cloud, 'GET', 'items/abc', { signingDate: new Date(Date.now() - 10 * 60_000) });
    expect(old.status).toBe(403);
    expect(((await old.json()) as { error: { message: string } }).error.message).toMatch(/^Signature expired: /);
    const region = await signedFetch(t.cloud, 'GET', 'items/abc', { region: 'eu-west-1' });
    expect(region.status).toBe(403);
    expect(((await region.json()) as { error: { code: string } }).error.code).toBe('INVALID_SIGNATURE');
  });

  it('rejects a body that fails the model with 400 through the BAD_REQUEST_BODY gateway response', async () => {
    const before = apiStarts();
    const missing = await signedFetch(t.cloud, 'POST', 'items', { body: JSON.stringify({ name: 'pi' }), headers: { 'content-type': 'application/json' } });
    expect(missing.status).toBe(400);
    expect(missing.headers.get('x-amzn-errortype')).toBe('BadRequestException');
    expect(await missing.json()).toEqual({ error: { code: 'BadRequestBody', message: '[object has missing required properties (["count"])]' } });

    const wrong = await signedFetch(t.cloud, 'POST', 'items', { body: JSON.stringify({ name: 'pi', count: 'three', extra: 1 }), headers: { 'content-type': 'application/json' } });
    expect(wrong.status).toBe(400);
    const message = ((await wrong.json()) as { error: { message: string } }).error.message;
    expect(message).toContain('instance type (string) does not match any allowed primitive type (allowed: ["integer"])');
    expect(message).toContain('object instance has properties which are not allowed by the schema: ["extra"]');

    const big = await signedFetch(t.cloud, 'POST', 'items', { body: JSON.stringify({ name: 'pi', count: 1000 }), headers: { 'content-type': 'application/json' } });
    expect(((await big.json()) as { error: { message: string } }).error.message).toBe(
      '[numeric instance is greater than the required maximum (maximum: 100, found: 1000)]',
    );
    expect(apiStarts()).toBe(before);
  });

  it('answers 502 when the function returns a malformed proxy response or fails', async () => {
    for (const flag of ['malformed=1', 'throw=1']) {
      const res = await fetch(new URL(`public/echo?${flag}`, t.cloud.apiUrl));
      expect(res.status, flag).toBe(502);
      expect(await res.json()).toEqual({ error: { code: 'DEFAULT_5XX', message: 'Internal server error' } });
    }
  });

  it('answers 504 when the integration times out', async () => {
    const res = await fetch(new URL('public/echo?sleepMs=3000', t.cloud.apiUrl));
    expect(res.status).toBe(504);
    expect(await res.json()).toEqual({ error: { code: 'INTEGRATION_TIMEOUT', message: 'Endpoint request timed out' } });
  });

  it('answers an unknown route or method with 403 Missing Authentication Token', async () => {
    for (const [method, path] of [
      ['GET', 'nope'],
      ['PUT', 'items/abc'],
      ['GET', 'items/abc/deeper'],
    ] as const) {
      const res = await fetch(new URL(path, t.cloud.apiUrl), { method });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(await res.json()).toEqual({ error: { code: 'MISSING_AUTHENTICATION_TOKEN', message: 'Missing Authentication Token' } });
    }
    const otherStage = await fetch(new URL('/dev/items/abc', t.cloud.apiUrl));
    expect(otherStage.status).toBe(403);
    expect(await otherStage.json()).toEqual({ message: 'Forbidden' });
  });

  it('serves a method without authorization unsigned, and CORS preflight from a MOCK integration', async () => {
    const res = await fetch(new URL('public/echo?status=201', t.cloud.apiUrl));
    expect(res.status).toBe(201);
    const event = (await res.json()) as ProxyEvent;
    expect(event.requestContext.identity.accessKey).toBeNull();
    expect(event.requestContext.identity.userArn).toBeNull();
    const preflight = await fetch(new URL('items', t.cloud.apiUrl), { method: 'OPTIONS' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-methods')).toBe('OPTIONS,GET,POST,DELETE');
  });
});

describe('API Gateway stage throttling', () => {
  const dir = mkdtempSync(join(tmpdir(), 'local-cloud-throttle-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('answers 429 THROTTLED past the stage burst', async () => {
    // The fixture stack with a stage allowing a burst of 2 and then almost nothing.
    const template = JSON.parse(readFileSync(FIXTURE_TEMPLATE, 'utf8')) as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
    const stage = Object.values(template.Resources).find((r) => r.Type === 'AWS::ApiGateway::Stage')!;
    stage.Properties.MethodSettings = [{ HttpMethod: '*', ResourcePath: '/*', ThrottlingBurstLimit: 2, ThrottlingRateLimit: 0.01 }];
    const templatePath = join(dir, 'Throttled.template.json');
    writeFileSync(templatePath, JSON.stringify(template));
    for (const entry of readdirSync(dirname(FIXTURE_TEMPLATE))) {
      if (entry.startsWith('asset.')) symlinkSync(join(dirname(FIXTURE_TEMPLATE), entry), join(dir, entry));
    }
    const throttled = await startFixtureCloud({ templatePath });
    try {
      const statuses: number[] = [];
      let body: unknown;
      for (let i = 0; i < 3; i++) {
        const res = await fetch(new URL('public/echo', throttled.cloud.apiUrl));
        statuses.push(res.status);
        body = await res.json();
      }
      expect(statuses).toEqual([200, 200, 429]);
      expect(body).toEqual({ error: { code: 'THROTTLED', message: 'Too Many Requests' } });
    } finally {
      await throttled.stop();
    }
  });
});
