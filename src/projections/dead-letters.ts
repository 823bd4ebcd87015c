// Messages on the event stream that are not events go to a stream of their own, with why and
// where they came from, so that they never block the projector and nobody loses sight of them.
import {
  type JetStreamClient,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos, headers as natsHeaders } from '@nats-io/transport-node';

/** Headers a dead letter carries; its body is the original message's, byte for byte. */
export const DEAD_LETTER_HEADERS = {
  reason: 'Pulse-Dead-Reason',
  subject: 'Pulse-Original-Subject',
  sequence: 'Pulse-Original-Sequence',
  stream: 'Pulse-Original-Stream',
} as const;

export interface DeadLetterSpec {
  /** The dead-letter stream's name. */
  stream: string;
  /** The one subject it captures. */
  subject: string;
  /** The event stream the letters come from. */
  source: string;
  maxAgeMs: number;
  replicas: number;
}

export interface DeadLetter {
  subject: string;
  seq: number;
  data: Uint8Array;
  reason: string;
}

export interface DeadLetters {
  readonly spec: DeadLetterSpec;
  /** Stores the letter; resolves once JetStream acknowledged it. Sending one twice stores it once. */
  send(letter: DeadLetter): Promise<void>;
}

/** Creates the dead-letter stream when missing; answers a sender for it. */
export async function provisionDeadLetters(
  js: JetStreamClient,
  jsm: JetStreamManager,
  spec: DeadLetterSpec,
): Promise<DeadLetters> {
  const config: Partial<StreamConfig> & { name: string } = {
    name: spec.stream,
    subjects: [spec.subject],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(spec.maxAgeMs),
    num_replicas: spec.replicas,
    duplicate_window: nanos(120_000),
    description: `Pulse: messages of ${spec.source} that are not events`,
  };
  try {
    await jsm.streams.info(spec.stream);
  } catch (err) {
    if (!(err instanceof Error && /not found/i.test(err.message))) throw err;
    await jsm.streams.add(config);
  }
  return {
    spec,
    async send(letter) {
      const h = natsHeaders();
      h.set(DEAD_LETTER_HEADERS.reason, letter.reason.replace(/[\r\n]+/g, ' ').slice(0, 1000));
      h.set(DEAD_LETTER_HEADERS.subject, letter.subject);
      h.set(DEAD_LETTER_HEADERS.sequence, String(letter.seq));
      h.set(DEAD_LETTER_HEADERS.stream, spec.source);
      // The message id makes a letter sent again after a crash (before the batch was committed) a no-op.
      await js.publish(spec.subject, letter.data, {
        headers: h,
        msgID: `${spec.source}:${letter.seq}`,
        expect: { streamName: spec.stream },
      });
    },
  };
}
