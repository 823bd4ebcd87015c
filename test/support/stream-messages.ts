import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';

/** One message as the stream stores it, read back with a plain JetStream client. */
export interface StoredMessage {
  seq: number;
  subject: string;
  /** Every header, by name. */
  headers: Record<string, string[]>;
  data: Uint8Array;
  /** The body parsed as JSON. */
  body: unknown;
  timestampMs: number;
}

/** A plain NATS client of the test's own, to look at (and publish into) the event stream. */
export interface StreamInspector {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** How many messages the stream holds now. */
  count(): Promise<number>;
  /** Every message the stream holds, oldest first (at most `max`, default 10,000). */
  messages(max?: number): Promise<StoredMessage[]>;
  get(seq: number): Promise<StoredMessage | undefined>;
  close(): Promise<void>;
}

export async function inspectStream(natsUrl: string, stream: string): Promise<StreamInspector> {
  const nc = await connect({ servers: natsUrl, name: 'test-inspector', maxReconnectAttempts: -1 });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);

  async function get(seq: number): Promise<StoredMessage | undefined> {
    const msg = await jsm.streams.getMessage(stream, { seq });
    if (!msg) return undefined;
    const headers: Record<string, string[]> = {};
    for (const key of msg.header?.keys() ?? []) headers[key] = msg.header.values(key);
    return {
      seq: msg.seq,
      subject: msg.subject,
      headers,
      data: msg.data,
      body: JSON.parse(new TextDecoder().decode(msg.data)),
      timestampMs: msg.time.getTime(),
    };
  }

  return {
    nc,
    js,
    jsm,
    async count() {
      return (await jsm.streams.info(stream)).state.messages;
    },
    async messages(max = 10_000) {
      const { state } = await jsm.streams.info(stream);
      const out: StoredMessage[] = [];
      if (state.messages === 0) return out;
      for (let seq = state.first_seq; seq <= state.last_seq && out.length < max; seq++) {
        const message = await get(seq);
        if (message) out.push(message);
      }
      return out;
    },
    get,
    async close() {
      if (!nc.isClosed()) await nc.close();
    },
  };
}
