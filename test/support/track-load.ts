// Sustained ingestion for fault tests: many `track` calls over HTTP, a bounded number at a time,
// each event with its own id, and what became of every call.

/** The fate of one `track` call. */
export interface CallOutcome {
  id: string;
  /** The call answered with the event as stored. */
  isAcknowledged: boolean;
  /** extensions.code of the error, or NETWORK when no HTTP answer came (the process died). */
  code?: string;
  /** extensions.reason of the error, when it had one. */
  reason?: string;
  cursor?: string;
  /** Pulse answered duplicate: true (the id was stored before). */
  duplicate?: boolean;
  startedAt: number;
  elapsedMs: number;
}

/** The event one load call sends: type and user spread evenly over the ids. */
export interface LoadEvent {
  id: string;
  type: string;
  userId: string;
  properties: Record<string, unknown>;
}

export const LOAD_TYPES = ['view', 'click', 'buy'] as const;
export const LOAD_USERS = 24;

/** Event n of a load whose ids start with prefix. */
export function loadEvent(prefix: string, n: number): LoadEvent {
  return {
    id: `${prefix}-${n}`,
    type: LOAD_TYPES[n % LOAD_TYPES.length],
    userId: `${prefix}-user-${n % LOAD_USERS}`,
    properties: { n },
  };
}

export interface TrackLoad {
  /** Every outcome so far, in the order the calls finished. */
  readonly outcomes: CallOutcome[];
  /** Calls finished so far. */
  finished(): number;
  /** Resolves once at least n calls finished (or the load ended); rejects after timeoutMs. */
  waitForFinished(n: number, timeoutMs?: number): Promise<void>;
  /** Resolves with every outcome once every call finished. */
  readonly done: Promise<CallOutcome[]>;
}

const TRACK = `mutation($event: TrackEventInput!) {
  track(event: $event) { duplicate event { id cursor } }
}`;

/** One `track` call; never throws, never waits longer than timeoutMs. */
export async function trackOnce(baseUrl: string, event: LoadEvent, timeoutMs: number): Promise<CallOutcome> {
  const startedAt = Date.now();
  const outcome = (fields: Partial<CallOutcome>): CallOutcome => ({
    id: event.id,
    isAcknowledged: false,
    startedAt,
    elapsedMs: Date.now() - startedAt,
    ...fields,
  });
  try {
    const res = await fetch(`${baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: JSON.stringify({ query: TRACK, variables: { event } }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await res.json()) as {
      data?: { track?: { duplicate: boolean; event: { id: string; cursor: string } } } | null;
      errors?: Array<{ extensions?: { code?: string; reason?: string } }>;
    };
    if (body.data?.track && !body.errors) {
      return outcome({
        isAcknowledged: true,
        cursor: body.data.track.event.cursor,
        duplicate: body.data.track.duplicate,
      });
    }
    const ext = body.errors?.[0]?.extensions ?? {};
    return outcome({ code: ext.code ?? `HTTP_${res.status}`, reason: ext.reason });
  } catch (err) {
    const isTimeout = err instanceof Error && err.name === 'TimeoutError';
    return outcome({ code: isTimeout ? 'CLIENT_TIMEOUT' : 'NETWORK' });
  }
}

/**
 * Sends events one call each, `concurrency` calls in flight. Every call is bounded by callTimeoutMs
 * (a call cut off there counts as CLIENT_TIMEOUT: a hang).
 */
export function startTrackLoad(options: {
  url: string;
  events: readonly LoadEvent[];
  concurrency: number;
  callTimeoutMs: number;
}): TrackLoad {
  const outcomes: CallOutcome[] = [];
  let next = 0;
  async function worker(): Promise<void> {
    while (next < options.events.length) {
      const event = options.events[next++];
      outcomes.push(await trackOnce(options.url, event, options.callTimeoutMs));
    }
  }
  const done = Promise.all(Array.from({ length: options.concurrency }, worker)).then(() => outcomes);
  let isDone = false;
  void done.then(() => {
    isDone = true;
  });
  return {
    outcomes,
    finished: () => outcomes.length,
    async waitForFinished(n, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (outcomes.length < n && !isDone) {
        if (Date.now() > deadline) throw new Error(`only ${outcomes.length} of ${n} calls finished in ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    done,
  };
}

/**
 * Sends every event of a failed call again with its id until it is acknowledged (attempts and time
 * bounded). Returns how many were retried and how many of those came back duplicate-free.
 */
export async function retryUntilAcknowledged(
  url: string,
  events: readonly LoadEvent[],
  options: { concurrency?: number; callTimeoutMs?: number; timeoutMs?: number } = {},
): Promise<CallOutcome[]> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let pending = [...events];
  const acknowledged: CallOutcome[] = [];
  for (let round = 0; pending.length > 0; round++) {
    if (Date.now() > deadline || round >= 50) {
      throw new Error(`${pending.length} events were still not acknowledged after ${round} rounds of retries`);
    }
    const load = startTrackLoad({
      url,
      events: pending,
      concurrency: options.concurrency ?? 8,
      callTimeoutMs: options.callTimeoutMs ?? 15_000,
    });
    const outcomes = await load.done;
    acknowledged.push(...outcomes.filter((o) => o.isAcknowledged));
    const failed = new Set(outcomes.filter((o) => !o.isAcknowledged).map((o) => o.id));
    pending = pending.filter((e) => failed.has(e.id));
    if (pending.length > 0) await new Promise((r) => setTimeout(r, 250));
  }
  return acknowledged;
}

/** Polls url until it answers with status (bounded); returns the last status seen (0: no answer). */
export async function waitForStatus(url: string, status: number, timeoutMs: number): Promise<number> {
  const giveUpAt = Date.now() + timeoutMs;
  let last = 0;
  while (Date.now() < giveUpAt) {
    last = await fetch(url, { signal: AbortSignal.timeout(2000) }).then(
      (res) => res.status,
      () => 0,
    );
    if (last === status) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  return last;
}
