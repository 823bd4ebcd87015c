import type { JetStreamManager } from '@nats-io/jetstream';

/** One stored message of a stream, read by its sequence. */
export interface StreamMessage {
  subject: string;
  data: Uint8Array;
  seq: number;
  timestampMs: number;
  msgId?: string;
}

/** Reads single messages of one stream by sequence, without creating a consumer. */
export interface StreamReader {
  /** The message at seq, or undefined when the stream no longer (or never) held it. */
  get(seq: number): Promise<StreamMessage | undefined>;
  /** The first and last sequence the stream holds now (first > last when it is empty). */
  bounds(): Promise<{ firstSeq: number; lastSeq: number; messages: number; bytes: number }>;
}

export function createStreamReader(jsm: JetStreamManager, stream: string): StreamReader {
  return {
    async get(seq) {
      try {
        // Direct get: answered by any replica, no consumer created.
        const msg = await jsm.direct.getMessage(stream, { seq });
        if (!msg || msg.seq !== seq) return undefined;
        return {
          subject: msg.subject,
          data: msg.data,
          seq: msg.seq,
          timestampMs: msg.time.getTime(),
          msgId: msg.header?.get('Nats-Msg-Id') || undefined,
        };
      } catch (err) {
        if (err instanceof Error && /not found|no message/i.test(err.message)) return undefined;
        throw err;
      }
    },
    async bounds() {
      const { state } = await jsm.streams.info(stream);
      return { firstSeq: state.first_seq, lastSeq: state.last_seq, messages: state.messages, bytes: state.bytes };
    },
  };
}
