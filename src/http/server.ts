import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, Server as NetServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { type Logger, requestIdFrom } from '../log/index.js';
import type { Readiness } from '../nats/index.js';
import { createDashboard } from './dashboard.js';
import { hasPlainJsonBody, readJsonBody } from './json-body.js';
import type { Metrics } from './metrics.js';
import type { PulseYoga } from './yoga.js';

export interface HttpServerOptions {
  yoga: PulseYoga;
  metrics: Metrics;
  readiness: () => Promise<Readiness>;
  log: Logger;
  /** Takes WebSocket upgrades (GraphQL over WebSocket on /graphql); others are refused with 404. */
  websocket?: { handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean };
  /** Runs first on close, while requests in flight go on: live subscriptions complete here. */
  beforeClose?: () => Promise<void>;
  /** Largest JSON request body; a larger one is answered 413. Default 64 MiB. */
  maxBodyBytes?: number;
}

/** The HTTP side of Pulse: health, metrics and everything GraphQL on one port. */
export interface HttpServer {
  readonly server: Server;
  listen(port: number, host: string): Promise<AddressInfo>;
  /** Stops taking connections, waits up to graceMs for requests in flight, then closes the rest. */
  close(graceMs: number): Promise<void>;
  /** Whether close() has begun: readiness then answers 503 so that load balancers move on. */
  isClosing(): boolean;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

const IDLE_LINGER_MS = 500;

export function createHttpServer(options: HttpServerOptions): HttpServer {
  const { yoga, metrics, readiness, log } = options;
  let closing = false;
  const dashboard = createDashboard();
  // Answers not yet sent. On close each gets `Connection: close`: without it a keep-alive socket
  // would go on carrying new requests after the listener closed.
  const unanswered = new Set<ServerResponse>();

  async function handle(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    // Yoga builds each request's URL from the Host header and the target: one that makes no URL
    // would fail inside it and be answered with a plain-text stack trace. RFC 9112 says 400.
    if (!req.url?.startsWith('/') || !URL.canParse(`http://${req.headers.host ?? 'localhost'}${req.url}`)) {
      return sendJson(res, 400, {
        errors: [
          { message: 'the request target or the Host header is not valid', extensions: { code: 'BAD_REQUEST' } },
        ],
      });
    }
    const path = req.url.split('?', 1)[0];
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
      if (path === '/readyz') {
        const state = closing ? { ready: false, nats: 'closing', stream: 'unknown' as const } : await readiness();
        return sendJson(res, state.ready ? 200 : 503, { status: state.ready ? 'ready' : 'unavailable', ...state });
      }
      if (path === '/metrics') {
        const text = await metrics.registry.metrics();
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(text);
        return;
      }
      const etag = req.headers['if-none-match'];
      if (await dashboard.serve(path, typeof etag === 'string' ? etag : undefined, res)) return;
    }
    if (hasPlainJsonBody(req)) {
      const outcome = await readJsonBody(req, options.maxBodyBytes ?? 64 * 1024 * 1024);
      if (outcome.kind === 'refused') {
        if (outcome.status === 413) res.setHeader('connection', 'close'); // rather than read the rest
        return sendJson(res, outcome.status, {
          errors: [{ message: outcome.message, extensions: { code: outcome.code } }],
        });
      }
    }
    await yoga.handle(req, res, { requestId });
  }

  const server = createServer((req, res) => {
    const header = req.headers['x-request-id'];
    const requestId = requestIdFrom(typeof header === 'string' ? header : undefined);
    res.setHeader('x-request-id', requestId);
    if (closing) res.setHeader('connection', 'close');
    else {
      unanswered.add(res);
      // 'close' comes once: `on` spares the wrapper `once` adds to every response.
      res.on('close', () => unanswered.delete(res));
    }
    handle(req, res, requestId).catch((err: unknown) => {
      // A client that went away mid-request is not a failure of Pulse's.
      const code = (err as { code?: string }).code;
      if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || req.destroyed) {
        log.debug({ err, requestId }, 'client went away mid-request');
      } else {
        log.error({ err, requestId }, 'request failed');
      }
      if (!res.headersSent)
        sendJson(res, 500, {
          errors: [
            {
              message: 'Unexpected error; quote the request id when you report it.',
              extensions: { code: 'INTERNAL_SERVER_ERROR', requestId },
            },
          ],
        });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 65_000;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    if (options.websocket?.handleUpgrade(req, socket, head)) return;
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });

  return {
    server,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    async close(graceMs) {
      closing = true;
      for (const res of unanswered) if (!res.headersSent) res.setHeader('connection', 'close');
      // Stops listening but leaves idle keep-alive sockets open a moment (http.Server#close would
      // close them at once): a client reusing one right now gets its answer, with Connection: close,
      // instead of a reset.
      const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
      await options.beforeClose?.().catch((err: unknown) => log.warn({ err }, 'error while closing live connections'));
      await new Promise((resolve) => setTimeout(resolve, Math.min(IDLE_LINGER_MS, graceMs)));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
    },
    isClosing: () => closing,
  };
}
