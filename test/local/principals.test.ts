// IAM principals of the local API: each test user signs with its own key pair and is reported as
// the caller, and a signature covers the body received, whatever x-amz-content-sha256 claims.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_PRINCIPALS } from '../../local/index.js';
import { signedFetch, startFixtureCloud, type TestCloud } from './helpers.js';

let t: TestCloud;

beforeAll(async () => {
  t = await startFixtureCloud();
});

afterAll(async () => {
  await t?.stop();
});

/** The fixture API function answers with the proxy event it received. */
async function callerIdentity(res: Response): Promise<Record<string, unknown>> {
  expect(res.status).toBe(200);
  return ((await res.json()) as { requestContext: { identity: Record<string, unknown> } }).requestContext.identity;
}

async function refusal(res: Response): Promise<{ status: number; errorType: string | null; code: string; message: string }> {
  const { error } = (await res.json()) as { error: { code: string; message: string } };
  return { status: res.status, errorType: res.headers.get('x-amzn-errortype'), ...error };
}

const MISMATCH = expect.stringMatching(/^The request signature we calculated does not match the signature you provided/);
const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');
// Two bodies of the same length, both valid for the POST /items model.
const SIGNED_BODY = JSON.stringify({ name: 'pi', count: 3 });
const OTHER_BODY = JSON.stringify({ name: 'pi', count: 4 });
const JSON_TYPE = { 'content-type': 'application/json' };

describe('IAM principals', () => {
  it("reports each principal's identity for the requests it signs", async () => {
    for (const name of ['alice', 'bob'] as const) {
      const principal = LOCAL_PRINCIPALS[name];
      const res = await signedFetch(t.cloud, 'GET', 'items/x', { credentials: t.cloud.principals[name] });
      expect(await callerIdentity(res), name).toMatchObject({
        accessKey: principal.accessKeyId,
        caller: principal.principalId,
        user: principal.principalId,
        userArn: `arn:aws:iam::123456789012:user/${name}`,
        accountId: '123456789012',
      });
    }
  });

  it('accepts the default credentials as the local-cloud user', async () => {
    expect(t.cloud.principals['local-cloud']).toEqual(t.cloud.credentials);
    const res = await signedFetch(t.cloud, 'POST', 'items', { body: SIGNED_BODY, headers: JSON_TYPE });
    expect(await callerIdentity(res)).toMatchObject({
      accessKey: t.cloud.credentials.accessKeyId,
      caller: 'AIDALOCALCLOUDUSER00',
      userArn: 'arn:aws:iam::123456789012:user/local-cloud',
    });
  });

  it("refuses a signature made with one principal's key id and another's secret", async () => {
    const credentials = { accessKeyId: LOCAL_PRINCIPALS.alice.accessKeyId, secretAccessKey: LOCAL_PRINCIPALS.bob.secretAccessKey };
    const res = await signedFetch(t.cloud, 'GET', 'items/x', { credentials });
    expect(await refusal(res)).toEqual({ status: 403, errorType: 'InvalidSignatureException', code: 'INVALID_SIGNATURE', message: MISMATCH });
  });

  it('refuses a key id no principal has', async () => {
    const res = await signedFetch(t.cloud, 'GET', 'items/x', { credentials: { accessKeyId: 'AKIALOCALMALLORY0000', secretAccessKey: 'guess' } });
    expect(await refusal(res)).toMatchObject({
      status: 403,
      errorType: 'UnrecognizedClientException',
      message: 'The security token included in the request is invalid.',
    });
  });

  it('refuses a body signed as UNSIGNED-PAYLOAD', async () => {
    const res = await signedFetch(t.cloud, 'POST', 'items', {
      body: SIGNED_BODY,
      headers: { ...JSON_TYPE, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
      credentials: t.cloud.principals.alice,
    });
    expect(await refusal(res)).toEqual({ status: 403, errorType: 'InvalidSignatureException', code: 'INVALID_SIGNATURE', message: MISMATCH });
  });

  it('refuses a signed body swapped for another of the same length', async () => {
    // Signed with the signed body's hash in x-amz-content-sha256 (the signer takes it as the payload hash), sent with another body.
    const res = await signedFetch(t.cloud, 'POST', 'items', {
      body: OTHER_BODY,
      headers: { ...JSON_TYPE, 'x-amz-content-sha256': sha256Hex(SIGNED_BODY) },
      credentials: t.cloud.principals.bob,
    });
    expect(await refusal(res)).toEqual({ status: 403, errorType: 'InvalidSignatureException', code: 'INVALID_SIGNATURE', message: MISMATCH });
  });

  it("accepts a signed x-amz-content-sha256 that is the body's hash", async () => {
    const res = await signedFetch(t.cloud, 'POST', 'items', {
      body: SIGNED_BODY,
      headers: { ...JSON_TYPE, 'x-amz-content-sha256': sha256Hex(SIGNED_BODY) },
      credentials: t.cloud.principals.carol,
    });
    expect(await callerIdentity(res)).toMatchObject({ userArn: 'arn:aws:iam::123456789012:user/carol' });
  });
});
