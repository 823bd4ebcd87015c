import type { GraphQLError } from 'graphql';
import { encodeCursor } from '../events/index.js';
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
  Response: typeof Response;
  ReadableStream: typeof ReadableStream;
  TextEncoder: typeof TextEncoder;
}

/**
 * An `events` subscription as a GraphQL-over-SSE response in the format of Yoga's own (and of
 * graphql-sse's distinct connections mode): `event: next` with the result as `data`, then
 * `event: complete`. Each event also carries its cursor as the SSE `id`, so that an EventSource
 * that reconnects sends it back as Last-Event-ID and resumes right after it.
 *
 * The stream pulls: frames wait here (counted as the sink's buffered bytes, with the response's
 * own write queue) until the connection takes them, so a slow client is measured, never buffered
 * without bound.
 */
export function createSseResponse(handoff: LiveHandoff, fetchAPI: FetchApi, options: SseResponseOptions): Response {
  const { subscription, renderer } = handoff;
  const encoder = new fetchAPI.TextEncoder();
  let frames: string[] = [];
  let queuedBytes = 0;
  let isFinished = false;
  let wake: (() => void) | undefined;
  let stopKeepAlive: (() => void) | undefined;

  const push = (frame: string) => {
    frames.push(frame);
    queuedBytes += frame.length;
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const finish = () => {
    stopKeepAlive?.();
    stopKeepAlive = undefined;
    isFinished = true;
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };

  const sink: LiveSink = {
    transport: 'sse',
    write(events) {
      for (const event of events) {
        push(`id: ${encodeCursor(event.seq)}\nevent: next\ndata: ${renderer.json(event)}\n\n`);
      }
    },
    bufferedBytes: () => queuedBytes,
    end(error) {
      if (error) push(`event: next\ndata: ${JSON.stringify({ errors: [options.toClientError(error)] })}\n\n`);
      push('event: complete\ndata:\n\n');
      finish();
    },
  };

  const onAbort = () => {
    finish();
    subscription.end();
  };

  const body = new fetchAPI.ReadableStream<Uint8Array>({
    start(controller) {
      // A first comment makes proxies and browsers pass the headers on at once.
      controller.enqueue(encoder.encode(':\n\n'));
      stopKeepAlive = keepAliveEvery(options.keepAliveMs).add(() => push(':\n\n'));
      if (options.signal.aborted) onAbort();
      else options.signal.addEventListener('abort', onAbort, { once: true });
      subscription.attach(sink);
    },
    async pull(controller) {
      while (frames.length === 0 && !isFinished) await new Promise<void>((resolve) => (wake = resolve));
      if (frames.length > 0) {
        const text = frames.length === 1 ? frames[0] : frames.join('');
        frames = [];
        queuedBytes = 0;
        controller.enqueue(encoder.encode(text));
      }
      if (isFinished) {
        options.signal.removeEventListener('abort', onAbort);
        controller.close();
      }
    },
    cancel() {
      options.signal.removeEventListener('abort', onAbort);
      onAbort();
    },
  });

  return new fetchAPI.Response(body, {
    status: 200,
    headers: {
      'Content-Type': 'text/event-stream',
      Connection: 'keep-alive',
      'Cache-Control': 'no-cache',
      'Content-Encoding': 'none',
    },
  });
}
