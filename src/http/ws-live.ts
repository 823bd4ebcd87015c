import type { Duplex } from 'node:stream';
import type { ExecutionResult, GraphQLError } from 'graphql';
import { MessageType } from 'graphql-ws';
import type { WebSocket } from 'ws';
import type { FrameFormat } from '../graphql/index.js';
import type { LiveHandoff } from './live-delivery.js';

/**
 * What graphql-ws iterates for an `events` subscription on the fast path: nothing until the end,
 * then at most one last result (the error that closed it). Far smaller than a general async
 * iterator, which matters when a process holds thousands of idle subscriptions.
 */
class FinalResult implements AsyncIterableIterator<ExecutionResult> {
  private last: ExecutionResult | undefined;
  private isDone = false;
  private wake: (() => void) | undefined;

  constructor(private readonly onReturn: () => void) {}

  /** Ends the stream, after one last result when given. */
  finish(last?: ExecutionResult): void {
    if (this.isDone) return;
    this.isDone = true;
    this.last = last;
    this.wake?.();
  }

  async next(): Promise<IteratorResult<ExecutionResult>> {
    while (!this.isDone) await new Promise<void>((resolve) => (this.wake = resolve));
    const value = this.last;
    this.last = undefined;
    return value ? { value, done: false } : { value: undefined, done: true };
  }

  async return(): Promise<IteratorResult<ExecutionResult>> {
    this.finish();
    this.onReturn();
    return { value: undefined, done: true };
  }

  async throw(error?: unknown): Promise<IteratorResult<ExecutionResult>> {
    this.finish();
    this.onReturn();
    throw error;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/** What closes a graphql-ws `next` message around its payload: the same for every subscriber, made once per event. */
const nextTail: FrameFormat = (json) => Buffer.from(`${json}}`);

/** A WebSocket frame header (RFC 6455, section 5.2) for one unfragmented, unmasked text message. */
function textFrameHeader(length: number): Buffer {
  if (length < 126) return Buffer.from([0x81, length]);
  if (length < 65_536) {
    const header = Buffer.allocUnsafe(4);
    header[0] = 0x81;
    header[1] = 126;
    header.writeUInt16BE(length, 2);
    return header;
  }
  const header = Buffer.allocUnsafe(10);
  header[0] = 0x81;
  header[1] = 127;
  header.writeBigUInt64BE(BigInt(length), 2);
  return header;
}

/**
 * Writes an `events` subscription straight to its socket. graphql-ws runs the protocol (init,
 * ping, subscribe, complete, errors, ids) but serialises every result for every subscriber, the
 * per-subscriber work a shared payload avoids; so each event's frame is built here from the
 * payload rendered once for all and this subscription's id. This is the one place Pulse writes
 * protocol frames itself, and they are exactly graphql-ws's `next` messages: a WebSocket text
 * frame of three parts, this subscription's head, then the payload and the closing brace shared
 * by every subscriber, so that a delivery encodes and copies nothing. `ws` writes each frame whole
 * as it is sent (the server compresses nothing), so these interleave with its own frames (pings,
 * errors, the completion, which still go through graphql-ws) only between frames.
 */
export function writeToSocket(
  handoff: LiveHandoff,
  id: string,
  socket: WebSocket,
  raw: Duplex,
  toClientError: (error: Error) => GraphQLError,
): AsyncIterableIterator<ExecutionResult> {
  const { subscription, renderer } = handoff;
  const head = Buffer.from(`{"id":${JSON.stringify(id)},"type":"${MessageType.Next}","payload":`);
  const stream = new FinalResult(() => subscription.end());
  subscription.attach({
    transport: 'ws',
    write(events) {
      if (socket.readyState !== socket.OPEN) return;
      // One write (one syscall) for the frames of a batch.
      raw.cork();
      for (const event of events) {
        const tail = renderer.frame(event, nextTail);
        raw.write(textFrameHeader(head.length + tail.length));
        raw.write(head);
        raw.write(tail);
      }
      raw.uncork();
    },
    bufferedBytes: () => socket.bufferedAmount,
    // An error is the stream's last `next`, then `complete`: as over SSE, and as errors at subscribe.
    end: (error) => stream.finish(error ? { errors: [toClientError(error)] } : undefined),
  });
  return stream;
}
