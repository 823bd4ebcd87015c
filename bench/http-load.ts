// A closed-loop HTTP load generator: `concurrency` clients on keep-alive sockets, each sending its
// next request as soon as the previous answer is read. Plain node:http, so that the generator costs
// as little CPU as possible on the machine it shares with the server it measures.
import { Agent, request } from 'node:http';

export interface HttpLoadOptions {
  /** e.g. http://127.0.0.1:4000/graphql */
  url: string;
  /** The JSON body of every request. */
  body: string;
  concurrency: number;
  /** Requests before this are not counted (connections, JIT). */
  warmupMs: number;
  /** How long requests are counted. */
  durationMs: number;
  /** Items one successful request carries (events per trackBatch). Default 1. */
  itemsPerRequest?: number;
  /** More headers on every request (e.g. an Authorization header). Default none. */
  headers?: Record<string, string>;
}

export interface HttpLoadResult {
  requests: number;
  failures: number;
  /** Successful requests (times itemsPerRequest) per second of the measured window. */
  itemsPerSecond: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** The first failure seen, to say why. */
  firstFailure?: string;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export interface JsonPoster {
  /** POSTs a JSON body; resolves with whether it succeeded (200 without "errors"), and why not. */
  post(body: string | Buffer): Promise<{ ok: boolean; detail?: string }>;
  close(): void;
}

/** POSTs JSON bodies to one URL over at most `sockets` keep-alive connections, with plain node:http. */
export function jsonPoster(url: string, sockets: number, extraHeaders: Record<string, string> = {}): JsonPoster {
  const target = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  return {
    post(body) {
      const payload = typeof body === 'string' ? Buffer.from(body) : body;
      const headers = {
        ...extraHeaders,
        'content-type': 'application/json',
        accept: 'application/graphql-response+json',
        'content-length': String(payload.length),
      };
      return new Promise((resolve) => {
        const req = request(
          { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString();
              // A GraphQL error answers 200 too: a body with "errors" is a failure.
              const ok = res.statusCode === 200 && !text.includes('"errors"');
              resolve(ok ? { ok } : { ok, detail: `HTTP ${res.statusCode}: ${text.slice(0, 300)}` });
            });
            res.on('error', (err) => resolve({ ok: false, detail: err.message }));
          },
        );
        req.on('error', (err) => resolve({ ok: false, detail: err.message }));
        req.end(payload);
      });
    },
    close: () => agent.destroy(),
  };
}

export async function httpLoad(options: HttpLoadOptions): Promise<HttpLoadResult> {
  const poster = jsonPoster(options.url, options.concurrency, options.headers);
  const payload = Buffer.from(options.body);
  const send = () => poster.post(payload);

  const startedAt = performance.now();
  const countFrom = startedAt + options.warmupMs;
  const stopAt = countFrom + options.durationMs;
  const latencies: number[] = [];
  let failures = 0;
  let firstFailure: string | undefined;

  async function client(): Promise<void> {
    while (performance.now() < stopAt) {
      const sentAt = performance.now();
      const outcome = await send();
      const doneAt = performance.now();
      if (sentAt < countFrom || doneAt > stopAt) continue;
      if (outcome.ok) latencies.push(doneAt - sentAt);
      else {
        failures++;
        firstFailure ??= outcome.detail;
      }
    }
  }

  await Promise.all(Array.from({ length: options.concurrency }, client));
  poster.close();
  const seconds = options.durationMs / 1000;
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    failures,
    requestsPerSecond: latencies.length / seconds,
    itemsPerSecond: (latencies.length * (options.itemsPerRequest ?? 1)) / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    firstFailure,
  };
}
