import type { Socket } from 'node:net';
import type { GraphQLError } from 'graphql';
import { encodeCursor, type StoredEvent } from '../events/index.js';
import type { FrameFormat } from '../graphql/index.js';
import type { LiveSink } from '../live/index.js';
import type { LiveHandoff } from './live-delivery.js';

export interface SseResponseOptions {
  /** How often an idle stream gets a comment line. */
  keepAliveMs: number;
  /** Aborts when the client goes away. */
  signal: AbortSignal;
  toClientError(error: Error): GraphQLError;
}

/**
 * One timer for every stream's keep-alive comment: a process may hold thousands of idle streams,
 * and a timer each would cost memory for nothing.
 */
function createKeepAlive(intervalMs: number) {
  const streams = new Set<() => void>();
  let timer: NodeJS.Timeout | undefined;
  return {
    add(ping: () => void): () => void {
      streams.add(ping);
      timer ??= setInterval(() => {
        for (const each of streams) each();
      }, intervalMs).unref();
      return () => {
        streams.delete(ping);
        if (streams.size === 0 && timer) {
          clearInterval(timer);
          timer = undefined;
        }
      };
    },
  };
}

const keepAlives = new Map<number, ReturnType<typeof createKeepAlive>>();

function keepAliveEvery(intervalMs: number) {
  let keepAlive = keepAlives.get(intervalMs);
  if (!keepAlive) {
    keepAlive = createKeepAlive(intervalMs);
    keepAlives.set(intervalMs, keepAlive);
  }
  return keepAlive;
}

interface FetchApi {
  Headers: typeof Headers;
}

const DONE: IteratorResult<Buffer> = { value: undefined, done: true };
const COMMENT = Buffer.from(':\n\n');

/** An event's SSE frame, the same for every subscriber of a selection: made once per event. */
const sseFrame: FrameFormat = (json, event) =>
  Buffer.from(`id: ${encodeCursor(event.seq)}\nevent: next\ndata: ${json}\n\n`);

/**
 * The body of one SSE response. Once its headers are out, frames go straight to the socket (a
 * batch as one chunk and one write) and what the socket has not taken yet is the sink's buffered
 * bytes; before that, or with no chunked Node response under it, frames wait here until the body
 * is read. Either way a slow client is measured, never buffered without bound. A class, not
 * closures: a process may hold thousands of idle streams, and each closure costs each of them.
 */
class SseBody implements AsyncIterableIterator<Buffer>, LiveSink {
  readonly transport = 'sse';
  private frames: Buffer[] = [COMMENT];
  private queuedBytes = COMMENT.length;
  private isFinished = false;
  private wake: (() => void) | undefined;
  private stopKeepAlive: (() => void) | undefined;
  /** The socket under the Node response, once frames go to it directly as chunks of their own. */
  private socket: Socket | undefined;
  private readonly onAbort = () => {
    this.finish();
    this.handoff.subscription.end();
  };

  constructor(
    private readonly handoff: LiveHandoff,
    private readonly options: SseResponseOptions,
  ) {
    this.stopKeepAlive = keepAliveEvery(options.keepAliveMs).add(this.ping);
    if (options.signal.aborted) this.onAbort();
    else options.signal.addEventListener('abort', this.onAbort, { once: true });
    handoff.subscription.attach(this);
  }

  private readonly ping = () => this.push(COMMENT);

  private push(frame: Buffer): void {
    if (this.socket) {
      this.writeChunk([frame]);
      return;
    }
    this.frames.push(frame);
    this.queuedBytes += frame.length;
    const resolve = this.wake;
    this.wake = undefined;
    resolve?.();
  }

  private finish(): void {
    this.stopKeepAlive?.();
    this.stopKeepAlive = undefined;
    this.isFinished = true;
    const resolve = this.wake;
    this.wake = undefined;
    resolve?.();
  }

  write(events: readonly StoredEvent[]): void {
    const { renderer } = this.handoff;
    if (this.socket) this.writeChunk(events.map((event) => renderer.frame(event, sseFrame)));
    else for (const event of events) this.push(renderer.frame(event, sseFrame));
  }

  /**
   * Frames as one HTTP/1.1 chunk (RFC 9112, section 7.1), straight to the socket: the framing Node
   * would write, without its per-write bookkeeping, which a delivery to thousands of streams pays
   * for every stream. The chunk is one buffer and one plain write: a corked run of writes becomes a
   * writev of its parts, which costs the process about a third more per delivery. Node's own
   * response writes the last chunk when the stream ends.
   */
  private writeChunk(frames: readonly Buffer[]): void {
    let length = 0;
    for (const frame of frames) length += frame.length;
    // A chunk of no bytes would end the body.
    if (length === 0) return;
    const size = length.toString(16);
    const chunk = Buffer.allocUnsafe(size.length + length + 4);
    let at = chunk.write(size, 0, 'latin1');
    at += chunk.write('\r\n', at, 'latin1');
    for (const frame of frames) at += frame.copy(chunk, at);
    chunk.write('\r\n', at, 'latin1');
    (this.socket as Socket).write(chunk);
  }

  bufferedBytes(): number {
    return this.socket ? this.socket.writableLength : this.queuedBytes;
  }

  end(error?: Error): void {
    if (error) {
      const payload = JSON.stringify({ errors: [this.options.toClientError(error)] });
      this.push(Buffer.from(`event: next\ndata: ${payload}\n\n`));
    }
    this.push(Buffer.from('event: complete\ndata:\n\n'));
    this.finish();
  }

  /** The next run of frames, once there is one; done once the stream finished and all are taken. */
  async next(): Promise<IteratorResult<Buffer>> {
    const response = this.handoff.response;
    if (!this.socket && response?.headersSent && response.chunkedEncoding && response.socket) {
      // Called once the headers are set: they go out first (Node holds them until the body's
      // first write otherwise), then what waited, and from here on every frame as it comes. The
      // body itself ends when the stream does. A response not chunked (HTTP/1.0) is read here.
      response.flushHeaders();
      this.socket = response.socket;
      this.writeChunk(this.frames);
      this.frames = [];
      this.queuedBytes = 0;
    }
    while (this.frames.length === 0 && !this.isFinished) {
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    if (this.frames.length === 0) {
      this.options.signal.removeEventListener('abort', this.onAbort);
      return DONE;
    }
    const chunk = this.frames.length === 1 ? this.frames[0] : Buffer.concat(this.frames, this.queuedBytes);
    this.frames = [];
    this.queuedBytes = 0;
    return { value: chunk, done: false };
  }

  async return(): Promise<IteratorResult<Buffer>> {
    this.options.signal.removeEventListener('abort', this.onAbort);
    this.onAbort();
    return DONE;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/**
 * An `events` subscription as a GraphQL-over-SSE response in the format of Yoga's own (and of
 * graphql-sse's distinct connections mode): `event: next` with the result as `data`, then
 * `event: complete`. Each event also carries its cursor as the SSE `id`, so that an EventSource
 * that reconnects sends it back as Last-Event-ID and resumes right after it.
 *
 * The response is what @whatwg-node/server (under Yoga) needs of one: a status, headers (which
 * Yoga's plugins may add to) and a body it can iterate. It writes an async-iterable body straight
 * to the socket; a fetch Response's ReadableStream would go through a Node stream, a proxy of it
 * and a pipe, about a third of what an idle SSE subscriber costs.
 */
export function createSseResponse(handoff: LiveHandoff, fetchAPI: FetchApi, options: SseResponseOptions): Response {
  const response = {
    status: 200,
    statusText: 'OK',
    headers: new fetchAPI.Headers({
      'Content-Type': 'text/event-stream',
      Connection: 'keep-alive',
      'Cache-Control': 'no-cache',
      'Content-Encoding': 'none',
    }),
    body: new SseBody(handoff, options),
  };
  return response as unknown as Response;
}
