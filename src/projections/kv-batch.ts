// Many KV keys read or written at once, as the protocol has it. A read is a JetStream direct get
// of the key's last message (`$JS.API.DIRECT.GET.KV_<bucket>.$KV.<bucket>.<key>`, answered by the
// message, its revision in `Nats-Sequence`, or status 404); a write is a JetStream publish to
// `$KV.<bucket>.<key>` with `Nats-Expected-Last-Subject-Sequence` (0: the key must not exist),
// answered by a PubAck whose seq is the key's new revision. nats.js's kv.get/update/create run
// each one as a request (a deferred, a timer, two error objects with stack traces made up front):
// measured on the projector, that was about a third of its CPU. Here a batch shares one reply
// subscription and one timer, and a write fails with the error nats.js would throw, so that
// isRevisionConflict and every caller's handling stay the same.
import { type ApiError, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import {
  createInbox,
  Empty,
  headers,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
  TimeoutError,
} from '@nats-io/transport-node';
import { liveValue, NoStreamResponders } from '../nats/index.js';

export interface KvWrite {
  key: string;
  data: Uint8Array;
  /** The revision the key must be at; 0 when it must not exist. */
  revision: number;
}

/** The key's new revision, or why the write was refused. */
export type KvWriteOutcome = { ok: true; revision: number } | { ok: false; error: unknown };

/** A key as read: its value (undefined when absent or deleted) and revision (0 when it never existed). */
export interface KvRead {
  data: Uint8Array | undefined;
  revision: number;
}

export interface KvBatch {
  /** Reads every key at once; rejects when any read fails. */
  readAll(keys: readonly string[]): Promise<KvRead[]>;
  /** Sends every write at once; resolves when each has its answer (or the timeout passed). */
  writeAll(writes: readonly KvWrite[]): Promise<KvWriteOutcome[]>;
  /** Stops listening for answers; what still waits fails with a timeout. */
  close(): void;
}

export interface KvBatchOptions {
  /** The bucket's name (its stream is `KV_<bucket>`). */
  bucket: string;
  /** Reads fall back to it for a bucket that does not allow direct gets. */
  kv: KV;
  /** How long a batch may wait for its answers. Default 5000, nats.js's JetStream default. */
  timeoutMs?: number;
}

interface Request {
  subject: string;
  data: Uint8Array;
  headers?: MsgHdrs;
}

interface PubAckBody {
  seq?: number;
  error?: ApiError;
}

const decoder = new TextDecoder();
const EXPECTED_LAST_SUBJECT_SEQUENCE = 'Nats-Expected-Last-Subject-Sequence';

/** The connection a JetStream client publishes on (nats.js keeps it as `nc`, not in its interface). */
export function connectionOf(js: JetStreamClient): NatsConnection {
  const nc = (js as { nc?: NatsConnection }).nc;
  if (!nc) throw new Error('the JetStream client does not expose its connection');
  return nc;
}

/**
 * Reads and writes one bucket's keys over one connection, on the default JetStream API prefix
 * (Pulse uses no JetStream domain). Keys go into subjects as they are: the read models' keys are
 * KV-safe tokens (see kvToken), and the bucket uses nats.js's default (identity) codec.
 */
export function createKvBatch(nc: NatsConnection, options: KvBatchOptions): KvBatch {
  const { bucket, kv } = options;
  const writePrefix = `$KV.${bucket}.`;
  const readPrefix = `$JS.API.DIRECT.GET.KV_${bucket}.$KV.${bucket}.`;
  const timeoutMs = options.timeoutMs ?? 5000;
  const inbox = createInbox();
  const pending = new Map<string, (answer: Msg | Error) => void>();
  let nextToken = 0;
  let subscription: Subscription | undefined;

  function replies(): void {
    if (subscription) return;
    subscription = nc.subscribe(`${inbox}.*`, {
      callback: (err, msg) => {
        if (err) {
          // The subscription is gone (e.g. a permission error): fail what waits, subscribe again next time.
          subscription = undefined;
          for (const [token, settle] of pending) {
            pending.delete(token);
            settle(err);
          }
          return;
        }
        const token = msg.subject.slice(inbox.length + 1);
        const settle = pending.get(token);
        if (!settle) return; // answered after its batch timed out
        pending.delete(token);
        settle(msg);
      },
    });
  }

  /** Sends every request at once; each answer is the reply message, or the error that stands for it. */
  function exchange(requests: readonly Request[]): Promise<Array<Msg | Error>> {
    if (requests.length === 0) return Promise.resolve([]);
    return new Promise((resolve) => {
      const answers = new Array<Msg | Error>(requests.length);
      const tokens: string[] = [];
      let open = requests.length;
      const timer = setTimeout(() => {
        for (const token of tokens) pending.get(token)?.(new TimeoutError());
      }, timeoutMs);
      const settleAt = (index: number, token: string) => (answer: Msg | Error) => {
        pending.delete(token);
        answers[index] = answer;
        if (--open === 0) {
          clearTimeout(timer);
          resolve(answers);
        }
      };
      try {
        replies();
      } catch (err) {
        clearTimeout(timer);
        resolve(requests.map(() => (err instanceof Error ? err : new Error(String(err)))));
        return;
      }
      requests.forEach((request, index) => {
        const token = (nextToken++).toString(36);
        const settle = settleAt(index, token);
        pending.set(token, settle);
        tokens.push(token);
        try {
          nc.publish(request.subject, request.data, { reply: `${inbox}.${token}`, headers: request.headers });
        } catch (err) {
          // A closed or draining connection throws at once.
          settle(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
  }

  function writeOutcome(answer: Msg | Error, subject: string): KvWriteOutcome {
    if (answer instanceof Error) return { ok: false, error: answer };
    if (answer.data.length === 0 && answer.headers?.code === 503) {
      return { ok: false, error: new NoStreamResponders(subject) };
    }
    let body: PubAckBody;
    try {
      body = JSON.parse(decoder.decode(answer.data)) as PubAckBody;
    } catch (err) {
      return { ok: false, error: new Error('JetStream answered with something that is not a PubAck', { cause: err }) };
    }
    if (body.error) return { ok: false, error: new JetStreamApiError(body.error) };
    if (typeof body.seq !== 'number')
      return { ok: false, error: new Error('JetStream answered with a PubAck without seq') };
    return { ok: true, revision: body.seq };
  }

  /** The key as read; undefined when the bucket does not answer direct gets. */
  function readOutcome(answer: Msg | Error, key: string): KvRead | undefined {
    if (answer instanceof Error) throw answer;
    const code = answer.headers?.code ?? 0;
    if (code === 404) return { data: undefined, revision: 0 };
    if (code === 503) return undefined;
    if (code !== 0 || !answer.headers) {
      throw new Error(`reading ${key} failed: ${code} ${answer.headers?.description ?? 'no headers'}`);
    }
    const revision = Number(answer.headers.last('Nats-Sequence'));
    if (!Number.isInteger(revision) || revision <= 0) throw new Error(`reading ${key}: no revision in the answer`);
    const operation = answer.headers.last('KV-Operation');
    // A deleted or purged key: its marker's revision is the one a write must name.
    return { data: operation === '' || operation === 'PUT' ? answer.data : undefined, revision };
  }

  return {
    async readAll(keys) {
      const answers = await exchange(keys.map((key) => ({ subject: readPrefix + key, data: Empty })));
      return Promise.all(
        answers.map(async (answer, index) => {
          const read = readOutcome(answer, keys[index]);
          if (read) return read;
          const entry = await kv.get(keys[index]);
          return { data: liveValue(entry), revision: entry?.revision ?? 0 };
        }),
      );
    },
    async writeAll(writes) {
      const answers = await exchange(
        writes.map(({ key, data, revision }) => {
          const h = headers();
          h.set(EXPECTED_LAST_SUBJECT_SEQUENCE, String(revision));
          return { subject: writePrefix + key, data, headers: h };
        }),
      );
      return answers.map((answer, index) => writeOutcome(answer, writePrefix + writes[index].key));
    },
    close() {
      subscription?.unsubscribe();
      subscription = undefined;
    },
  };
}
