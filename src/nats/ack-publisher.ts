// JetStream publishing as the protocol has it: a core publish with a reply subject, answered by the
// stream with a PubAck. nats.js's `JetStreamClient.publish` runs each publish as a request (a
// deferred, a timer, an error object with a stack trace made up front and another on completion);
// measured here that is about half the CPU Pulse spends per event. This does the same exchange
// with one reply subscription for all publishes, and fails with the errors nats.js would throw.
import { type ApiError, JetStreamApiError } from '@nats-io/jetstream';
import {
  createInbox,
  headers,
  type Msg,
  type NatsConnection,
  type Subscription,
  TimeoutError,
} from '@nats-io/transport-node';

/** One JetStream publish: `JetStreamClient` has this shape, and so has createAckPublisher's result. */
export interface JetStreamPublisher {
  publish(
    subject: string,
    data: Uint8Array,
    options: { msgID: string; timeout: number; expect: { streamName: string } },
  ): Promise<{ seq: number; duplicate: boolean }>;
}

/** Nobody answered for the stream: JetStream is not (yet) up, e.g. during a restart or an election. */
export class NoStreamResponders extends Error {
  constructor(subject: string) {
    super(`no JetStream stream answered for ${subject}`);
    this.name = 'NoStreamResponders';
  }
}

interface PendingAck {
  subject: string;
  resolve(ack: { seq: number; duplicate: boolean }): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout;
}

interface PubAckBody {
  stream?: string;
  seq?: number;
  duplicate?: boolean;
  error?: ApiError;
}

const decoder = new TextDecoder();

/**
 * Publishes to JetStream over one connection, awaiting each message's PubAck. The connection
 * resubscribes the reply subject by itself after a reconnect.
 */
export function createAckPublisher(nc: NatsConnection): JetStreamPublisher {
  const inbox = createInbox();
  const pending = new Map<string, PendingAck>();
  let nextToken = 0;
  let subscription: Subscription | undefined;

  function settle(msg: Msg): void {
    const entry = pending.get(msg.subject.slice(inbox.length + 1));
    if (!entry) return; // answered after its timeout: the caller already retried or gave up
    pending.delete(msg.subject.slice(inbox.length + 1));
    clearTimeout(entry.timer);
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      entry.reject(new NoStreamResponders(entry.subject));
      return;
    }
    let body: PubAckBody;
    try {
      body = JSON.parse(decoder.decode(msg.data)) as PubAckBody;
    } catch (err) {
      entry.reject(new Error('JetStream answered with something that is not a PubAck', { cause: err }));
      return;
    }
    if (body.error) entry.reject(new JetStreamApiError(body.error));
    else if (typeof body.seq !== 'number') entry.reject(new Error('JetStream answered with a PubAck without seq'));
    else entry.resolve({ seq: body.seq, duplicate: body.duplicate === true });
  }

  function replies(): Subscription {
    subscription ??= nc.subscribe(`${inbox}.*`, {
      callback: (err, msg) => {
        if (!err) return settle(msg);
        // The subscription is gone (e.g. a permission error): fail what waits, subscribe again next time.
        subscription = undefined;
        for (const [token, entry] of pending) {
          pending.delete(token);
          clearTimeout(entry.timer);
          entry.reject(err);
        }
      },
    });
    return subscription;
  }

  return {
    publish(subject, data, options) {
      return new Promise((resolve, reject) => {
        const token = (nextToken++).toString(36);
        try {
          replies();
          const h = headers();
          h.set('Nats-Msg-Id', options.msgID);
          h.set('Nats-Expected-Stream', options.expect.streamName);
          const timer = setTimeout(() => {
            pending.delete(token);
            reject(new TimeoutError());
          }, options.timeout);
          pending.set(token, { subject, resolve, reject, timer });
          nc.publish(subject, data, { reply: `${inbox}.${token}`, headers: h });
        } catch (err) {
          // A closed or draining connection throws at once.
          const entry = pending.get(token);
          if (entry) clearTimeout(entry.timer);
          pending.delete(token);
          reject(err);
        }
      });
    },
  };
}
