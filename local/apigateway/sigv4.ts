// IAM authorization of REST API methods: the request must carry a SigV4
// signature (service execute-api, region us-east-1) made with the key pair of
// one of the known principals. The request is signed again with that pair and
// the signatures compared.
import { createHash, createHmac, timingSafeEqual, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { clientRecord } from './record.js';

const ALGORITHM = 'AWS4-HMAC-SHA256';
const SERVICE = 'execute-api';
const MAX_SKEW_MS = 5 * 60 * 1000;

export interface SignedRequest {
  method: string;
  /** Path as sent on the wire (still percent-encoded), stage included. */
  rawPath: string;
  query: URLSearchParams;
  /** Header names and values as received (`IncomingMessage.rawHeaders`). */
  rawHeaders: readonly string[];
  body: Buffer;
}

/** A key pair a request may be signed with. */
export interface SigningKeys {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface AuthFailure {
  ok: false;
  responseType: 'MISSING_AUTHENTICATION_TOKEN' | 'INVALID_SIGNATURE';
  errorType: string;
  message: string;
}

export type AuthOutcome<P extends SigningKeys = SigningKeys> = { ok: true; principal: P } | AuthFailure;

/** node:crypto in the shape the signer expects (`new Sha256(secret?)`, update, digest). */
type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytes = (d: SourceData): string | Uint8Array =>
  typeof d === 'string' ? d : ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : new Uint8Array(d);

class Sha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
}

const invalid = (message: string, errorType = 'InvalidSignatureException'): AuthFailure => ({
  ok: false,
  responseType: 'INVALID_SIGNATURE',
  errorType,
  message,
});

/**
 * The signer with API Gateway's payload hash: always that of the body received. AWS: only S3 takes
 * `x-amz-content-sha256` (UNSIGNED-PAYLOAD or a client's hash) as the payload hash; execute-api signs
 * the real body, so a body that differs from the one signed fails. The header itself, when signed,
 * stays a canonical header like any other.
 */
class BodyHashingSigner extends SignatureV4 {
  constructor(
    init: ConstructorParameters<typeof SignatureV4>[0],
    private readonly bodyHash: string,
  ) {
    super(init);
  }

  protected override createCanonicalRequest(request: SignableRequest, canonicalHeaders: Record<string, string>): string {
    return super.createCanonicalRequest(request, canonicalHeaders, this.bodyHash);
  }
}
type SignableRequest = Parameters<SignatureV4['presign']>[0];

const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

/** Checks the request's signature against the key pair of the principal its Credential names. */
export async function verifySigV4<P extends SigningKeys>(
  req: SignedRequest,
  principals: readonly P[],
  region: string,
  now: Date = new Date(),
): Promise<AuthOutcome<P>> {
  const received = headerValues(req.rawHeaders);
  const authorization = received.authorization;
  if (!authorization) {
    return { ok: false, responseType: 'MISSING_AUTHENTICATION_TOKEN', errorType: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' };
  }
  const parsed = parseAuthorization(authorization);
  const amzDate = received['x-amz-date'];
  const missing: string[] = [];
  if (!parsed?.credential) missing.push("Authorization header requires 'Credential' parameter.");
  if (!parsed?.signature) missing.push("Authorization header requires 'Signature' parameter.");
  if (!parsed?.signedHeaders) missing.push("Authorization header requires 'SignedHeaders' parameter.");
  if (!amzDate) missing.push("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  if (!parsed || missing.length > 0) {
    return invalid(`${missing.join(' ')} Authorization=${authorization}`, 'IncompleteSignatureException');
  }
  const [accessKeyId, scopeDate, scopeRegion, scopeService, terminator] = parsed.credential!.split('/');
  const principal = principals.find((p) => p.accessKeyId === accessKeyId);
  if (!principal) {
    return invalid('The security token included in the request is invalid.', 'UnrecognizedClientException');
  }
  if (terminator !== 'aws4_request') return invalid("Credential should be scoped with a valid terminator: 'aws4_request'.", 'IncompleteSignatureException');
  if (scopeService !== SERVICE) return invalid(`Credential should be scoped to correct service: '${SERVICE}'.`);
  if (scopeRegion !== region) return invalid(`Credential should be scoped to a valid region, not '${scopeRegion}'.`);
  const signedHeaders = parsed.signedHeaders!.split(';');
  if (!signedHeaders.includes('host')) {
    return invalid("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.", 'IncompleteSignatureException');
  }
  const signingDate = parseAmzDate(amzDate!);
  if (!signingDate) return invalid(`Date must be in ISO-8601 'basic format'. Got '${amzDate}'.`, 'IncompleteSignatureException');
  if (scopeDate !== amzDate!.slice(0, 8)) {
    return invalid(`Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scopeDate}' != '${amzDate!.slice(0, 8)}', from '${amzDate}'.`);
  }
  const skew = signingDate.getTime() - now.getTime();
  if (skew < -MAX_SKEW_MS) {
    return invalid(`Signature expired: ${amzDate} is now earlier than ${basicFormat(new Date(now.getTime() - MAX_SKEW_MS))} (${basicFormat(now)} - 5 min.)`);
  }
  if (skew > MAX_SKEW_MS) {
    return invalid(`Signature not yet current: ${amzDate} is still later than ${basicFormat(new Date(now.getTime() + MAX_SKEW_MS))} (${basicFormat(now)} + 5 min.)`);
  }

  const headers = clientRecord<string>();
  for (const name of signedHeaders) {
    const value = received[name];
    if (value === undefined) return invalid(SIGNATURE_MISMATCH);
    headers[name] = value;
  }
  const query = clientRecord<string | string[]>();
  for (const key of new Set(req.query.keys())) {
    const values = req.query.getAll(key);
    query[key] = values.length === 1 ? values[0]! : values;
  }
  const sessionToken = signedHeaders.includes('x-amz-security-token') ? headers['x-amz-security-token'] : undefined;
  const keys = { accessKeyId: principal.accessKeyId, secretAccessKey: principal.secretAccessKey };
  const signer = new BodyHashingSigner(
    { credentials: { ...keys, ...(sessionToken ? { sessionToken } : {}) }, region, service: SERVICE, sha256: Sha256, applyChecksum: false },
    createHash('sha256').update(req.body).digest('hex'),
  );
  const host = headers.host ?? 'localhost';
  const signed = await signer.sign(
    { method: req.method, protocol: 'http:', hostname: host, path: req.rawPath, query, headers, body: req.body },
    { signingDate, signableHeaders: new Set(signedHeaders) },
  );
  const expected = /Signature=([0-9a-f]+)/.exec(String(signed.headers.authorization))?.[1] ?? '';
  const given = parsed.signature!;
  const same = expected.length === given.length && timingSafeEqual(Buffer.from(expected), Buffer.from(given));
  return same ? { ok: true, principal } : invalid(SIGNATURE_MISMATCH);
}

/**
 * Values by lower-case header name, a repeated header's values joined with ',' as SigV4 canonicalizes
 * them. From the raw headers: Node's `headers` drops some repeats, and a header named `__proto__`.
 */
function headerValues(rawHeaders: readonly string[]): Record<string, string> {
  const values = clientRecord<string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    values[name] = name in values ? `${values[name]},${value}` : value;
  }
  return values;
}

function parseAuthorization(value: string): { credential?: string; signedHeaders?: string; signature?: string } | undefined {
  if (!value.startsWith(`${ALGORITHM} `)) return undefined;
  const out: { credential?: string; signedHeaders?: string; signature?: string } = {};
  for (const part of value.slice(ALGORITHM.length).split(',')) {
    const [k, v] = part.trim().split('=', 2);
    if (k === 'Credential') out.credential = v;
    else if (k === 'SignedHeaders') out.signedHeaders = v;
    else if (k === 'Signature') out.signature = v;
  }
  return out;
}

function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s));
}

/** A date in SigV4's basic ISO-8601 format, `20250101T120000Z`. */
export function basicFormat(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}
