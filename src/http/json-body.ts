// GraphQL requests are small JSON documents. Read straight from the socket and parsed here, they
// reach Yoga already parsed (as `req.body`, which it takes as a body parser's result) and skip the
// web-stream adapters it would otherwise put between the socket and JSON.parse, about a tenth of
// the CPU of a `track` call. The size bound Yoga would apply is applied here.
import type { IncomingMessage } from 'node:http';

/** What became of a request body: parsed and handed on, or an answer for the client. */
export type JsonBodyOutcome = { kind: 'parsed' } | { kind: 'refused'; status: number; code: string; message: string };

/** POSTs of JSON that nobody compressed: the only requests readJsonBody takes. */
export function hasPlainJsonBody(req: IncomingMessage): boolean {
  if (req.method !== 'POST') return false;
  const type = req.headers['content-type'] ?? '';
  const encoding = req.headers['content-encoding'];
  return (
    (encoding === undefined || encoding === 'identity') &&
    (type.startsWith('application/json') || type.startsWith('application/graphql+json'))
  );
}

const tooLarge = (maxBytes: number): JsonBodyOutcome => ({
  kind: 'refused',
  status: 413,
  code: 'REQUEST_ENTITY_TOO_LARGE',
  message: `Request body too large (at most ${maxBytes} bytes)`,
});

/**
 * The body's chunks, or undefined once it grew past maxBytes (the rest is left unread). Listeners,
 * not `for await`: a stream's async iterator costs more per request than reading a small body.
 */
function readAll(req: IncomingMessage, maxBytes: number): Promise<{ chunks: Buffer[]; size: number } | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      settle();
      req.pause();
      resolve(undefined);
    };
    const onEnd = () => {
      settle();
      resolve({ chunks, size });
    };
    const onError = (error: Error) => {
      settle();
      reject(error);
    };
    // A client that goes away before the end: as the stream's iterator does, fail the read.
    const onClose = () => {
      settle();
      reject(new Error('request closed before its body was read'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * Reads and parses the body of a JSON POST into `req.body`. Anything but a non-empty JSON object
 * is refused here, as Yoga would refuse it, so that it never has to look at it key by key.
 */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<JsonBodyOutcome> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) return tooLarge(maxBytes);
  const read = await readAll(req, maxBytes);
  if (read === undefined) return tooLarge(maxBytes);
  const { chunks, size } = read;
  let body: unknown;
  try {
    body = JSON.parse(chunks.length === 1 ? chunks[0].toString() : Buffer.concat(chunks, size).toString());
  } catch {
    return { kind: 'refused', status: 400, code: 'BAD_REQUEST', message: 'POST body sent invalid JSON.' };
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    const what = Array.isArray(body)
      ? 'a list (batched operations are not supported)'
      : typeof body === 'string'
        ? 'a string'
        : String(body);
    return {
      kind: 'refused',
      status: 400,
      code: 'BAD_REQUEST',
      message: `POST body is expected to be an object but received ${what}`,
    };
  }
  if (Object.keys(body).length === 0) {
    return { kind: 'refused', status: 400, code: 'BAD_REQUEST', message: 'Must provide query string.' };
  }
  (req as IncomingMessage & { body?: unknown }).body = body;
  return { kind: 'parsed' };
}
