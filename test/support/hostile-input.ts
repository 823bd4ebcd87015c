// What the hostile-input tests share: a reproducible seed, a raw HTTP client, the judge of a
// GraphQL answer (well-formed, coded, no internals), per-class tallies printed as one JSON line,
// and the check that a stream holds only valid events.
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import type { Parameters } from 'fast-check';
import { loadSettings } from '../../src/config/index.js';
import { decodeEvent, validateEvent } from '../../src/events/index.js';
import { eventSubjects } from '../../src/nats/index.js';
import { inspectStream } from './stream-messages.js';

/** One seed per test process, printed with every tally: `FUZZ_SEED=<seed>` replays a run. */
export const FUZZ_SEED = process.env.FUZZ_SEED
  ? Number(process.env.FUZZ_SEED)
  : (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0;

/** fast-check parameters: the process's seed, a bounded number of runs. */
export function fuzzParameters<T>(numRuns: number): Parameters<T> {
  // fast-check reports the seed and the path of a failure in its error; shrinking is bounded too.
  return { seed: FUZZ_SEED, numRuns, includeErrorInReport: true, interruptAfterTimeLimit: 120_000 };
}

/** A raw HTTP answer. */
export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

const agent = new Agent({ keepAlive: true, maxSockets: 8 });

/** One HTTP request with exactly these method, target, headers and body bytes (no normalising). */
export function sendHttp(
  baseUrl: string,
  options: { method: string; path: string; headers?: Record<string, string>; body?: Buffer | string },
): Promise<HttpAnswer> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    let answered: HttpAnswer | undefined;
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: options.method,
        path: options.path,
        // Framed by a Content-Length always: Node sends a DELETE's body unframed otherwise, and
        // the server rightly reads it as the start of the next request.
        headers:
          options.body === undefined
            ? options.headers
            : { 'content-length': String(Buffer.byteLength(options.body)), ...options.headers },
        agent,
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          answered = { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) };
          resolve(answered);
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer in 30 s to ${options.method} ${options.path}`)));
    // A server that answers (413) before it read the whole body may close while we still write.
    req.on('error', (err) => (answered ? resolve(answered) : reject(err)));
    req.end(options.body);
  });
}

/** A GraphQL error as the contract shapes it. */
export interface WireError {
  message: string;
  extensions?: Record<string, unknown>;
}

// Stack frames, file paths and exception names: what must never reach a client.
const LEAKS = [
  /\n\s*at /,
  /\bat \S+ \(\S+:\d+:\d+\)/,
  /node_modules/,
  /\/work\//,
  /file:\/\//,
  /\.[cm]?[jt]s:\d+/,
  /Maximum call stack/,
  /\b(TypeError|RangeError|ReferenceError|SyntaxError|AbortError)\b/,
  /"(stack|originalError)"\s*:/,
];

/** The first internal detail the text shows, if any. */
export function leakIn(text: string): string | undefined {
  return LEAKS.find((pattern) => pattern.test(text))?.source;
}

/** Codes a 5xx may carry by contract: the bus or a read-your-writes wait, never a bug. */
const SERVER_SIDE_CODES = new Set(['EVENT_BUS_UNAVAILABLE', 'CONSISTENCY_TIMEOUT']);

/**
 * Checks one GraphQL result object ({ data?, errors? }) and returns its error codes. Throws with
 * `context` when it is not well-formed, an error has no code, an error shows internals, or the
 * server masked an unexpected error (INTERNAL_SERVER_ERROR: hostile input is expected input).
 */
export function checkResult(result: unknown, context: string): string[] {
  assert.ok(result !== null && typeof result === 'object' && !Array.isArray(result), `${context}: not a JSON object`);
  const { data, errors } = result as { data?: unknown; errors?: unknown };
  assert.ok(data !== undefined || errors !== undefined, `${context}: neither data nor errors`);
  if (errors === undefined) return [];
  assert.ok(Array.isArray(errors) && errors.length > 0, `${context}: errors is not a non-empty list`);
  return (errors as WireError[]).map((error) => {
    assert.equal(typeof error?.message, 'string', `${context}: an error without a message`);
    const code = error.extensions?.code;
    assert.equal(typeof code, 'string', `${context}: an error without extensions.code: ${JSON.stringify(error)}`);
    const leak = leakIn(`${error.message}\n${JSON.stringify(error.extensions)}`.slice(0, 100_000));
    assert.equal(leak, undefined, `${context}: an error shows internals (${leak}): ${JSON.stringify(error)}`);
    assert.notEqual(code, 'INTERNAL_SERVER_ERROR', `${context}: an unexpected error: ${JSON.stringify(error)}`);
    return code as string;
  });
}

/** The results in a text/event-stream body (each `data:` of an `event: next`). */
function sseResults(text: string): unknown[] {
  const results: unknown[] = [];
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n');
    if (!lines.includes('event: next')) continue;
    const data = lines
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).trimStart())
      .join('\n');
    results.push(JSON.parse(data));
  }
  return results;
}

/** What one HTTP answer held, judged. */
export interface JudgedAnswer {
  status: number;
  codes: string[];
  /** The GraphQL results it carried (one, or several over SSE). */
  results: unknown[];
}

/**
 * Judges an HTTP answer of the GraphQL endpoint: a JSON body of data and/or coded errors (or SSE
 * frames of such results), never internals, never a 5xx but the contract's. `allowEmpty` names
 * answers that carry no body by HTTP's own rules (HEAD, a CORS preflight); `allowHtml` the GraphiQL
 * page a browser's GET gets.
 */
export function judgeAnswer(
  answer: HttpAnswer,
  context: string,
  options: { allowEmpty?: boolean; allowHtml?: boolean } = {},
): JudgedAnswer {
  const type = String(answer.headers['content-type'] ?? '');
  const text = answer.body.toString('utf8');
  const where = `${context} -> ${answer.status} ${type} ${JSON.stringify(text.slice(0, 300))}`;
  if (options.allowEmpty && text === '') {
    assert.ok(answer.status < 500, `${where}: a 5xx`);
    return { status: answer.status, codes: [], results: [] };
  }
  if (options.allowHtml && type.startsWith('text/html')) {
    assert.equal(answer.status, 200, where);
    return { status: answer.status, codes: [], results: [] };
  }
  let results: unknown[];
  if (type.startsWith('text/event-stream')) {
    results = sseResults(text);
    assert.ok(results.length > 0, `${where}: an event stream without a result`);
  } else {
    assert.match(type, /^application\/(graphql-response\+)?json/, `${where}: not a JSON answer`);
    try {
      results = [JSON.parse(text)];
    } catch {
      assert.fail(`${where}: the body is not JSON`);
    }
  }
  const codes = results.flatMap((result) => checkResult(result, where));
  if (answer.status >= 500) {
    assert.ok(codes.length > 0 && codes.every((code) => SERVER_SIDE_CODES.has(code)), `${where}: a 5xx`);
  }
  return { status: answer.status, codes, results };
}

/** Events a result reports as newly stored: each `duplicate: false`, and each `accepted` count. */
export function storedBy(result: unknown): number {
  if (result === null || typeof result !== 'object') return 0;
  if (Array.isArray(result)) return result.reduce((sum: number, item) => sum + storedBy(item), 0);
  const record = result as Record<string, unknown>;
  let sum = record.duplicate === false ? 1 : 0;
  if (typeof record.accepted === 'number') sum += record.accepted;
  for (const value of Object.values(record)) sum += storedBy(value);
  return sum;
}

/** Counts of one input class, printed as one JSON line for RELIABILITY.md. */
export class Tally {
  sent = 0;
  answered = 0;
  stored = 0;
  readonly codes: Record<string, number> = {};
  readonly statuses: Record<string, number> = {};
  /** Anything else counted by kind: messages by type, outcomes. */
  readonly kinds: Record<string, number> = {};

  constructor(readonly name: string) {}

  /** Records a judged answer; returns it. */
  record(judged: JudgedAnswer): JudgedAnswer {
    this.answered++;
    this.count(this.statuses, String(judged.status));
    for (const code of judged.codes) this.count(this.codes, code);
    this.stored += judged.results.reduce((sum: number, result) => sum + storedBy(result), 0);
    return judged;
  }

  count(into: Record<string, number>, key: string, by = 1): void {
    into[key] = (into[key] ?? 0) + by;
  }

  print(): void {
    console.log(
      JSON.stringify({
        fuzz: this.name,
        seed: FUZZ_SEED,
        sent: this.sent,
        answered: this.answered,
        errorsByCode: this.codes,
        statuses: this.statuses,
        stored: this.stored,
        ...(Object.keys(this.kinds).length > 0 ? { kinds: this.kinds } : {}),
      }),
    );
  }
}

/** One sample of /metrics: the first group of `pattern` as a number (NaN when absent). */
export async function readMetric(baseUrl: string, pattern: RegExp): Promise<number> {
  const text = (await sendHttp(baseUrl, { method: 'GET', path: '/metrics' })).body.toString();
  return Number(pattern.exec(text)?.[1] ?? Number.NaN);
}

/** Polls `check` every 50 ms until it holds; throws after timeoutMs. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** GET /healthz answers 200. */
export async function assertHealthy(baseUrl: string): Promise<void> {
  const res = await sendHttp(baseUrl, { method: 'GET', path: '/healthz' });
  assert.equal(res.status, 200, `/healthz answered ${res.status}`);
}

/**
 * Every message the stream holds is an event: it decodes, passes track's validation with the
 * process's limits, sits on its type's one-token subject with its id as Nats-Msg-Id; and there
 * are exactly `expected` of them. Returns the count.
 */
export async function assertStreamHoldsValidEvents(
  natsUrl: string,
  env: Record<string, string>,
  expected: number,
): Promise<number> {
  const settings = loadSettings(env);
  const subjects = eventSubjects(settings.stream.subjectPrefix);
  const inspector = await inspectStream(natsUrl, settings.stream.name);
  try {
    const messages = await inspector.messages(1_000_000);
    for (const message of messages) {
      const where = `stream message ${message.seq} on ${JSON.stringify(message.subject)}`;
      const event = decodeEvent(
        { subject: message.subject, data: message.data, seq: message.seq, timestampMs: message.timestampMs },
        subjects.typeOf,
      );
      const { issues } = validateEvent(
        {
          id: event.id,
          type: event.type,
          userId: event.userId,
          anonymousId: event.anonymousId,
          properties: event.properties,
          occurredAt: event.occurredAt,
        },
        settings.limits,
        { receivedAt: new Date(event.receivedAt) },
      );
      assert.equal(issues, undefined, `${where}: ${JSON.stringify(issues)}`);
      assert.equal(message.subject, subjects.forType(event.type), where);
      const token = message.subject.slice(subjects.prefix.length + 1);
      assert.match(token, /^[A-Za-z0-9_~-]+$/, `${where}: one plain token`);
      assert.deepEqual(message.headers['Nats-Msg-Id'], [event.id], where);
    }
    assert.equal(messages.length, expected, 'stored events = events answered as stored');
    return messages.length;
  } finally {
    await inspector.close();
  }
}
