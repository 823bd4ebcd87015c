// A WebSocket client that sends exactly what a test tells it, protocol or not: the `ws` package
// for frames, a plain TCP socket for what `ws` would never send (half a frame, unmasked frames).
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';

/** The graphql-ws subprotocol. */
export const GRAPHQL_TRANSPORT_WS = 'graphql-transport-ws';

/** One socket's conversation: what came back, and how it ended. */
export interface RawWsSession {
  readonly ws: WebSocket;
  /** Text messages received, in order. */
  readonly messages: string[];
  /** The close code and reason, once closed. */
  readonly closed: { code: number; reason: string } | undefined;
  sendText(text: string): void;
  sendBytes(bytes: Uint8Array, options: { binary: boolean }): void;
  /** Resolves once a message matching `match` arrived (true) or after timeoutMs (false). */
  waitForMessage(match: (message: string) => boolean, timeoutMs: number): Promise<boolean>;
  /** Resolves once closed, or when nothing arrived for quietMs (at most timeoutMs in all). */
  settle(quietMs: number, timeoutMs: number): Promise<void>;
  /** Closes (1000) if still open and waits for the close, at most timeoutMs. */
  close(timeoutMs?: number): Promise<void>;
}

export function openRawWs(url: string, protocol: string = GRAPHQL_TRANSPORT_WS): Promise<RawWsSession> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocol, { maxPayload: 64 * 1024 * 1024 });
    const messages: string[] = [];
    let closed: { code: number; reason: string } | undefined;
    let lastActivity = Date.now();
    const waiters = new Set<() => void>();
    const wake = () => {
      lastActivity = Date.now();
      for (const waiter of waiters) waiter();
    };
    ws.on('message', (data, isBinary) => {
      messages.push(isBinary ? `<binary ${(data as Buffer).length} bytes>` : String(data));
      wake();
    });
    ws.on('close', (code, reason) => {
      closed = { code, reason: reason.toString() };
      wake();
    });
    // The server's close is what the tests look at; a reset after it is not the client's concern.
    ws.on('error', () => {});
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with ${res.statusCode}`)));
    const until = (check: () => boolean, timeoutMs: number) =>
      new Promise<boolean>((done) => {
        if (check()) return done(true);
        const onWake = () => {
          if (!check()) return;
          cleanup();
          done(true);
        };
        const timer = setTimeout(() => {
          cleanup();
          done(check());
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(onWake);
        };
        waiters.add(onWake);
      });
    const session: RawWsSession = {
      ws,
      messages,
      get closed() {
        return closed;
      },
      sendText(text) {
        if (ws.readyState === ws.OPEN) ws.send(text);
      },
      sendBytes(bytes, options) {
        if (ws.readyState === ws.OPEN) ws.send(bytes, { binary: options.binary });
      },
      waitForMessage: (match, timeoutMs) => until(() => messages.some(match), timeoutMs),
      async settle(quietMs, timeoutMs) {
        const deadline = Date.now() + timeoutMs;
        while (!closed && Date.now() < deadline) {
          const quietFor = Date.now() - lastActivity;
          if (quietFor >= quietMs) return;
          await until(() => closed !== undefined, Math.min(quietMs - quietFor, deadline - Date.now()));
        }
      },
      async close(timeoutMs = 2000) {
        if (!closed && ws.readyState === ws.OPEN) ws.close(1000);
        if (!(await until(() => closed !== undefined, timeoutMs))) ws.terminate();
      },
    };
    ws.once('open', () => resolve(session));
    ws.once('close', () => reject(new Error('closed before it opened')));
  });
}

/** A client frame as RFC 6455 has it (masked unless told otherwise). */
export function clientFrame(payload: Buffer, options: { opcode?: number; isMasked?: boolean } = {}): Buffer {
  const opcode = options.opcode ?? 0x1;
  const isMasked = options.isMasked ?? true;
  const length = payload.length;
  const header =
    length < 126
      ? Buffer.from([0x80 | opcode, (isMasked ? 0x80 : 0) | length])
      : length < 65_536
        ? Buffer.from([0x80 | opcode, (isMasked ? 0x80 : 0) | 126, length >> 8, length & 0xff])
        : Buffer.concat([
            Buffer.from([0x80 | opcode, (isMasked ? 0x80 : 0) | 127]),
            (() => {
              const size = Buffer.alloc(8);
              size.writeBigUInt64BE(BigInt(length));
              return size;
            })(),
          ]);
  if (!isMasked) return Buffer.concat([header, payload]);
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]));
  return Buffer.concat([header, mask, masked]);
}

/** A TCP socket that completed the WebSocket upgrade on `path`, ready for hand-made frames. */
export function upgradedSocket(baseUrl: string, path = '/graphql'): Promise<Socket> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
          `Sec-WebSocket-Protocol: ${GRAPHQL_TRANSPORT_WS}\r\n\r\n`,
      );
    });
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      if (head.startsWith('HTTP/1.1 101')) resolve(socket);
      else {
        socket.destroy();
        reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}
