// The HTTP plumbing every local server shares: listening on 127.0.0.1 (or a host given), closing with the
// connections still open, the endpoint URL, reading bodies and headers.
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Idle keep-alive connections are closed after this long. */
const KEEP_ALIVE_TIMEOUT_MS = 5_000;

/** Starts listening on 127.0.0.1 unless told otherwise (`port` 0 picks a free one); a new server unless one is given. */
export function listen(handler: RequestListener | Server, port = 0, host = '127.0.0.1'): Promise<Server> {
  const server = typeof handler === 'function' ? createServer(handler) : handler;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** Closes a server, ending its open connections (keep-alive or in progress) instead of waiting for them. */
export function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** `http://HOST:PORT` of a listening server (127.0.0.1 when it listens on every address). */
export function endpointOf(server: Server): string {
  const { address, port } = server.address() as AddressInfo;
  const host = address === '0.0.0.0' || address === '::' ? '127.0.0.1' : address.includes(':') ? `[${address}]` : address;
  return `http://${host}:${port}`;
}

/**
 * Reads a whole body. Bytes past `limit` are counted but not kept, so a caller can answer an
 * oversized request (413) after reading it to the end; `size` is the full length.
 */
export async function readBody(message: IncomingMessage, limit = Infinity): Promise<{ body: Buffer; size: number }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of message as AsyncIterable<Buffer>) {
    if (size + chunk.length <= limit) chunks.push(chunk);
    size += chunk.length;
  }
  return { body: Buffer.concat(chunks), size };
}

/** Every byte of a body (for bodies bounded by the sender, such as DynamoDB's). */
export async function readAll(message: IncomingMessage): Promise<Buffer> {
  return (await readBody(message)).body;
}

/** A request header's value, the first when it was sent several times. */
export function headerValue(message: IncomingMessage, name: string): string | undefined {
  const v = message.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
