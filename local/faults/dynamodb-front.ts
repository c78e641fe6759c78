// A front for the DynamoDB server: passes requests through, and fails the ones the injector picks
// with DynamoDB's own error answers (throttling, hot key, internal error, also after the write).
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import { Agent, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { close, endpointOf, listen, readAll } from '../http.js';
import { warning } from '../log.js';
import type { FaultInjector } from './injector.js';

export interface DynamoDbFront {
  endpoint: string;
  stop(): Promise<void>;
}

/** DynamoDB request ids are 52 upper-case letters and digits. */
const requestId = () =>
  Array.from(randomBytes(52), (b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'[b % 36]).join('');

function sendError(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'Content-Type': 'application/x-amz-json-1.0',
    'Content-Length': String(Buffer.byteLength(body)),
    'x-amzn-RequestId': requestId(),
    // zlib.crc32 arrived in Node 20.15; DynamoDB's checksum header is informational for the JS SDK.
    ...(typeof zlib.crc32 === 'function' && { 'x-amz-crc32': String(zlib.crc32(body)) }),
  });
  res.end(body);
}

export async function startDynamoDbFront(target: string, injector: FaultInjector, log: (line: string) => void): Promise<DynamoDbFront> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true });

  const forward = (req: IncomingMessage, body: Buffer): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const out = request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent },
        (answer) => {
          readAll(answer).then((data) => resolve({ status: answer.statusCode ?? 500, headers: answer.headers, body: data }), reject);
        },
      );
      out.on('error', reject);
      out.end(body);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readAll(req);
    const targetHeader = req.headers['x-amz-target'];
    const operation = (Array.isArray(targetHeader) ? targetHeader[0] : targetHeader)?.split('.').pop() ?? '';
    const fault = operation ? injector.planDynamoDb(operation, body.toString('utf8')) : undefined;
    if (fault && !fault.afterWrite) return sendError(res, fault.status, fault.body);
    const answer = await forward(req, body);
    if (fault) return sendError(res, fault.status, fault.body);
    const headers = { ...answer.headers };
    delete headers['transfer-encoding'];
    delete headers.connection;
    headers['content-length'] = String(answer.body.length);
    res.writeHead(answer.status, headers);
    res.end(answer.body);
  };

  const server = await listen((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log(warning(`dynamodb fault front: ${String(err)}`));
      if (!res.headersSent) sendError(res, 500, JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: 'Internal server error' }));
      else res.destroy();
    });
  }, 0);
  return {
    endpoint: endpointOf(server),
    stop: () => {
      agent.destroy();
      return close(server);
    },
  };
}
