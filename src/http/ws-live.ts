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

/** The length of a WebSocket frame header (RFC 6455, section 5.2) for an unmasked payload of this length. */
function frameHeaderLength(payloadLength: number): number {
  return payloadLength < 126 ? 2 : payloadLength < 65_536 ? 4 : 10;
}

/** Writes the header of one unfragmented, unmasked text frame at `at`; returns where its payload begins. */
function writeTextFrameHeader(target: Buffer, at: number, payloadLength: number): number {
  target[at] = 0x81;
  if (payloadLength < 126) {
    target[at + 1] = payloadLength;
    return at + 2;
  }
  if (payloadLength < 65_536) {
    target[at + 1] = 126;
    target.writeUInt16BE(payloadLength, at + 2);
    return at + 4;
  }
  target[at + 1] = 127;
  target.writeBigUInt64BE(BigInt(payloadLength), at + 2);
  return at + 10;
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
      // The frames of a batch as one buffer and one plain write (one syscall): a corked run of
      // writes becomes a writev of its parts, which costs the process about a third more.
      const tails = events.map((event) => renderer.frame(event, nextTail));
      let length = 0;
      for (const tail of tails) length += frameHeaderLength(head.length + tail.length) + head.length + tail.length;
      const frames = Buffer.allocUnsafe(length);
      let at = 0;
      for (const tail of tails) {
        at = writeTextFrameHeader(frames, at, head.length + tail.length);
        at += head.copy(frames, at);
        at += tail.copy(frames, at);
      }
      raw.write(frames);
    },
    bufferedBytes: () => socket.bufferedAmount,
    // An error is the stream's last `next`, then `complete`: as over SSE, and as errors at subscribe.
    end: (error) => stream.finish(error ? { errors: [toClientError(error)] } : undefined),
  });
  return stream;
}
