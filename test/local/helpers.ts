import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SignatureV4 } from '@smithy/signature-v4';
import { startLocalCloud, type LocalCloud, type LocalCloudOptions } from '../../local/index.js';

export const FIXTURE_TEMPLATE = fileURLToPath(new URL('./fixtures/stack/Fixture.template.json', import.meta.url));

/** Logical ids in the fixture template. */
export const FN = {
  echo: 'EchoFn3C0B9A21',
  fail: 'FailFn2B3C4D5E',
  sqsFail: 'SqsFailFn6A5B4C3D',
  recorder: 'RecorderFn7D6E5F40',
  slow: 'SlowFn8E9F0A1B',
  env: 'EnvFn4D3C2B1A',
  api: 'ApiFn9B8A7C6D',
  broken: 'BrokenFn0C1D2E3F',
} as const;
export const RECORDS_TABLE = 'RecordsTableB1C2D3E4';
export const ITEMS_TABLE = 'fixture-items';
export const FAILURES_QUEUE = 'FailuresQueue1F2E3D4C';

export interface TestCloud {
  cloud: LocalCloud;
  logs: string[];
  lambda: LambdaClient;
  dynamodb: DynamoDBClient;
  stop(): Promise<void>;
}

export async function startFixtureCloud(opts: Partial<LocalCloudOptions> = {}): Promise<TestCloud> {
  const logs: string[] = [];
  const cloud = await startLocalCloud({
    templatePath: FIXTURE_TEMPLATE,
    retryDelayMs: 100,
    log: (line) => logs.push(line),
    ...opts,
  });
  // The SDK retries throttles on its own; tests look at single answers.
  const lambda = new LambdaClient({ endpoint: cloud.lambdaEndpoint, region: cloud.region, credentials: cloud.credentials, maxAttempts: 1 });
  const dynamodb = new DynamoDBClient({ endpoint: cloud.dynamodbEndpoint, region: cloud.region, credentials: cloud.credentials });
  return {
    cloud,
    logs,
    lambda,
    dynamodb,
    async stop() {
      lambda.destroy();
      dynamodb.destroy();
      await cloud.stop();
    },
  };
}

export function text(payload: Uint8Array | undefined): string {
  return payload ? Buffer.from(payload).toString('utf8') : '';
}

export function json<T = Record<string, unknown>>(payload: Uint8Array | undefined): T {
  return JSON.parse(text(payload)) as T;
}
export { waitFor } from '../helpers/pool.js';

class Sha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(toBytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
}

function toBytes(d: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof d === 'string') return d;
  return ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : new Uint8Array(d);
}

export interface SignOptions {
  body?: string;
  headers?: Record<string, string>;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  signingDate?: Date;
  region?: string;
}

/** Calls the local API signed with SigV4 (execute-api), the way an IAM-authorized client does. */
export async function signedFetch(cloud: LocalCloud, method: string, path: string, opts: SignOptions = {}): Promise<Response> {
  const url = new URL(path, cloud.apiUrl);
  const query: Record<string, string | string[]> = Object.create(null);
  for (const key of new Set(url.searchParams.keys())) {
    const all = url.searchParams.getAll(key);
    query[key] = all.length === 1 ? all[0]! : all;
  }
  const signer = new SignatureV4({
    credentials: opts.credentials ?? cloud.credentials,
    region: opts.region ?? cloud.region,
    service: 'execute-api',
    sha256: Sha256,
  });
  const signed = await signer.sign(
    {
      method,
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query,
      headers: { host: url.host, ...(opts.headers ?? {}) },
      body: opts.body,
    },
    opts.signingDate ? { signingDate: opts.signingDate } : {},
  );
  const headers = { ...signed.headers };
  delete headers.host;
  return fetch(url, { method, headers, ...(opts.body !== undefined ? { body: opts.body } : {}) });
}
