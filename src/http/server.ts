import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inRequestScope, type Logger } from '../log/index.js';
import type { Readiness } from '../nats/index.js';
import { createDashboard } from './dashboard.js';
import type { Metrics } from './metrics.js';
import type { PulseYoga } from './yoga.js';

export interface HttpServerOptions {
  yoga: PulseYoga;
  metrics: Metrics;
  readiness: () => Promise<Readiness>;
  log: Logger;
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

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function createHttpServer(options: HttpServerOptions): HttpServer {
  const { yoga, metrics, readiness, log } = options;
  let closing = false;
  const dashboard = createDashboard();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0];
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
    await yoga.handle(req, res);
  }

  const server = createServer((req, res) => {
    const header = req.headers['x-request-id'];
    const requestId = typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
    res.setHeader('x-request-id', requestId);
    inRequestScope({ requestId }, () =>
      handle(req, res).catch((err: unknown) => {
        log.error({ err }, 'request failed');
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error', requestId });
        else res.destroy();
      }),
    );
  });
  server.keepAliveTimeout = 65_000;

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
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
    },
    isClosing: () => closing,
  };
}
