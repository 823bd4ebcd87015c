import { createVisitors, type DemoEvent } from './visitors.js';

export interface GeneratorOptions {
  /** Pulse's base URL, e.g. http://127.0.0.1:4000. */
  url: string;
  /** Events per second to send. Default 20. */
  rate?: number;
  /** An API key with the ingest scope, when Pulse has keys configured. */
  apiKey?: string;
  /** Stop after this many ms; runs until stop() when unset. */
  durationMs?: number;
  /** How often a batch is sent, in ms. Default 100. */
  tickMs?: number;
  /** Called about once a second with the running totals. */
  onProgress?: (stats: GeneratorStats) => void;
  /** Called with every event accepted by Pulse. */
  onSent?: (events: readonly DemoEvent[]) => void;
}

export interface GeneratorStats {
  sent: number;
  failed: number;
  elapsedMs: number;
  visitors: number;
  lastError?: string;
}

const MUTATION = `mutation Demo($events: [TrackEventInput!]!, $sentAt: DateTime) {
  trackBatch(events: $events, sentAt: $sentAt) { accepted duplicates }
}`;

/**
 * Sends simulated traffic to Pulse through its public GraphQL API at a steady rate: each tick
 * sends as many events as are due since the start, so the rate holds even when a request is slow.
 */
export function startGenerator(options: GeneratorOptions) {
  const rate = options.rate ?? 20;
  const tickMs = options.tickMs ?? 100;
  const visitors = createVisitors();
  const stats: GeneratorStats = { sent: 0, failed: 0, elapsedMs: 0, visitors: 0 };
  const started = performance.now();
  let due = 0;
  let stopped = false;
  let inFlight = Promise.resolve();
  let lastProgress = started;
  let resolveDone: (stats: GeneratorStats) => void = () => {};
  const done = new Promise<GeneratorStats>((resolve) => {
    resolveDone = resolve;
  });

  async function send(events: DemoEvent[]): Promise<void> {
    try {
      const res = await fetch(`${options.url}/graphql`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
        },
        body: JSON.stringify({ query: MUTATION, variables: { events, sentAt: new Date().toISOString() } }),
        signal: AbortSignal.timeout(15_000),
      });
      const body = (await res.json()) as { errors?: Array<{ message: string }> };
      if (body.errors?.length) throw new Error(body.errors[0].message);
      stats.sent += events.length;
      options.onSent?.(events);
    } catch (err) {
      stats.failed += events.length;
      stats.lastError = (err as Error).message;
    }
  }

  function tick(): void {
    if (stopped) return;
    const now = performance.now();
    stats.elapsedMs = now - started;
    if (options.durationMs !== undefined && stats.elapsedMs >= options.durationMs) {
      void stop();
      return;
    }
    const target = Math.floor((stats.elapsedMs / 1000) * rate);
    const count = target - due;
    if (count > 0) {
      due = target;
      const at = new Date();
      const events = Array.from({ length: count }, () => visitors.next(at));
      const batch = send(events);
      inFlight = Promise.all([inFlight, batch]).then(() => undefined);
    }
    stats.visitors = visitors.visitors();
    if (now - lastProgress >= 1000) {
      lastProgress = now;
      options.onProgress?.({ ...stats });
    }
  }

  const timer = setInterval(tick, tickMs);
  tick();

  async function stop(): Promise<GeneratorStats> {
    if (!stopped) {
      stopped = true;
      clearInterval(timer);
      await inFlight;
      stats.elapsedMs = performance.now() - started;
      resolveDone({ ...stats });
    }
    return done;
  }

  return { stop, done, stats: () => ({ ...stats }) };
}
