// The subscribers of the live benchmark, in a child process of their own so that they do not share
// an event loop with the server they measure. Driven over IPC by bench/live.ts.
import { randomBytes } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connect, type NatsConnection } from '@nats-io/transport-node';

export type ClientKind = 'raw-ws' | 'raw-sse' | 'nats';

export type LoadCommand =
  | { cmd: 'open'; kind: ClientKind; url: string; count: number; query?: string; subject?: string; isIdle?: boolean }
  | { cmd: 'measure'; isOn: boolean }
  | { cmd: 'report' }
  | { cmd: 'close' };

export interface LoadReport {
  delivered: number;
  samples: number;
  p50: number;
  p99: number;
  /** Events per client: the fewest and the most any one received. */
  fewest: number;
  most: number;
  outOfOrder: number;
  errors: number;
}

export type LoadReply =
  | { type: 'opened'; count: number }
  | { type: 'progress'; delivered: number }
  | ({ type: 'report' } & LoadReport)
  | { type: 'closed' };

const send = (reply: LoadReply) => process.send?.(reply);
const now = () => performance.timeOrigin + performance.now();

let delivered = 0;
let errors = 0;
let outOfOrder = 0;
let isMeasuring = false;
let samples: number[] = [];
const closers: Array<() => unknown> = [];
const received: number[] = [];
const lastN: number[] = [];

const cursorSequence = (cursor: string) => Number(Buffer.from(cursor, 'base64url').toString().slice(3));

/** The number after `"key":` in a JSON text; NaN when absent. */
function numberAfter(text: string, key: string): number {
  const at = text.indexOf(key);
  return at === -1 ? Number.NaN : Number.parseFloat(text.slice(at + key.length, at + key.length + 24));
}

/**
 * Every tenth client times and order-checks its events; the rest only count them. Ten clients at
 * 1,000 events/s give 100,000 latency samples in ten seconds, plenty for a p99, while reading
 * every event of every client cost the load process half a core, taken from the servers it shares
 * the machine with. The timed clients are spread evenly over the order in which a server serves
 * them, and are the same clients on every side.
 */
const isTimed = (client: number) => client % 10 === 0;

/** Counts one event a client received, without reading it. */
function countEvent(client: number): void {
  delivered++;
  received[client]++;
}

/**
 * Times and counts one event a client received, from its JSON text without parsing the whole of
 * it. `properties` carries the event's number and when it was sent; its order is checked by its
 * cursor's stream sequence where it has one (events tracked concurrently are stored in any
 * order), else by its number.
 */
function onEventText(client: number, text: string): void {
  const n = numberAfter(text, '"n":');
  const t0 = numberAfter(text, '"t0":');
  if (Number.isNaN(n) || Number.isNaN(t0)) return;
  const at = text.indexOf('"cursor":"');
  const order = at === -1 ? n : cursorSequence(text.slice(at + 10, text.indexOf('"', at + 10)));
  countEvent(client);
  if (order <= lastN[client]) outOfOrder++;
  lastN[client] = order;
  if (isMeasuring) samples.push(now() - t0);
}

const NEXT_MESSAGE = Buffer.from('"type":"next"');

/** A client's text frame to a WebSocket server: masked, as the protocol requires of clients. */
function clientFrame(text: string | Buffer, opcode = 0x1): Buffer {
  const payload = Buffer.from(text);
  const head =
    payload.length < 126
      ? Buffer.from([0x80 | opcode, 0x80 | payload.length])
      : Buffer.from([0x80 | opcode, 0xfe, payload.length >> 8, payload.length & 0xff]);
  const mask = randomBytes(4);
  for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
  return Buffer.concat([head, mask, payload]);
}

/**
 * A graphql-transport-ws subscriber on a bare TCP socket: the upgrade written by hand, then the
 * server's frames read as they come (servers do not mask their frames). As little client work per
 * event as the SSE and NATS subscribers do.
 */
function openRawWs(client: number, url: string, query: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const target = new URL(`${url}/graphql`);
    const socket = netConnect(Number(target.port), target.hostname, () => {
      socket.write(
        `GET ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
          'Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n',
      );
    });
    socket.setNoDelay(true);
    let buffer: Buffer = Buffer.alloc(0);
    let isOpen = false;
    const timed = isTimed(client);
    const onText = (text: string) => {
      if (text.includes('"type":"next"')) onEventText(client, text);
      else if (text.includes('"type":"connection_ack"')) {
        if (query) socket.write(clientFrame(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } })));
        resolve();
      } else if (text.includes('"type":"error"') || text.includes('"type":"complete"')) errors++;
    };
    socket.on('data', (chunk: Buffer) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      if (!isOpen) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end === -1) return;
        if (!buffer.subarray(0, end).toString().startsWith('HTTP/1.1 101')) {
          reject(new Error(`WebSocket upgrade refused: ${buffer.subarray(0, end).toString().split('\r\n')[0]}`));
          socket.destroy();
          return;
        }
        isOpen = true;
        buffer = buffer.subarray(end + 4);
        socket.write(clientFrame('{"type":"connection_init"}'));
        if (!query) resolve();
      }
      let at = 0;
      while (buffer.length - at >= 2) {
        const opcode = buffer[at] & 0x0f;
        let length = buffer[at + 1] & 0x7f;
        let start = at + 2;
        if (length === 126) {
          if (buffer.length - at < 4) break;
          length = buffer.readUInt16BE(at + 2);
          start = at + 4;
        } else if (length === 127) {
          if (buffer.length - at < 10) break;
          length = Number(buffer.readBigUInt64BE(at + 2));
          start = at + 10;
        }
        if (buffer.length < start + length) break;
        if (opcode === 1) {
          // An untimed client counts a `next` message from its bytes; any other message is read.
          const next = timed ? -1 : buffer.indexOf(NEXT_MESSAGE, start);
          if (next !== -1 && next < start + length) countEvent(client);
          else onText(buffer.toString('utf8', start, start + length));
        } else if (opcode === 9) socket.write(clientFrame(buffer.subarray(start, start + length), 0xa));
        else if (opcode === 8) errors++;
        at = start + length;
      }
      buffer = at === buffer.length ? Buffer.alloc(0) : buffer.subarray(at);
    });
    socket.on('error', reject);
    closers.push(() => socket.destroy());
  });
}

const FRAME_DATA = Buffer.from('data: {');
const FRAME_END = Buffer.from('\n\n');

/**
 * An SSE subscriber on a bare TCP socket: an HTTP/1.1 GET written by hand, then the chunked body
 * read as it comes. The SSE frames are found in the bytes however they were chunked (chunk-size
 * lines are skipped where they fall); as little client work per event as a NATS subscriber does.
 */
function openRawSse(client: number, url: string, query: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const target = new URL(`${url}/graphql`);
    if (query) target.searchParams.set('query', query);
    const socket = netConnect(Number(target.port), target.hostname, () => {
      socket.write(
        `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nAccept: text/event-stream\r\n\r\n`,
      );
      resolve();
    });
    socket.setNoDelay(true);
    const timed = isTimed(client);
    let buffer: Buffer = Buffer.alloc(0);
    let isBody = false;
    socket.on('data', (chunk: Buffer) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      if (!isBody) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end === -1) return;
        buffer = buffer.subarray(end + 4);
        isBody = true;
      }
      // Frames are found wherever they lie: chunk-size lines and comments between them are skipped.
      let at = 0;
      for (let start = buffer.indexOf(FRAME_DATA); start !== -1; start = buffer.indexOf(FRAME_DATA, at)) {
        const end = buffer.indexOf(FRAME_END, start);
        if (end === -1) {
          at = start;
          break;
        }
        if (timed) onEventText(client, buffer.toString('utf8', start + 6, end));
        else countEvent(client);
        at = end + 2;
      }
      // What precedes an unfinished frame, or all but the tail that may hold the start of one, is done.
      const rest = buffer.indexOf(FRAME_DATA, at) === -1 ? Math.max(at, buffer.length - FRAME_DATA.length) : at;
      buffer = rest >= buffer.length ? Buffer.alloc(0) : buffer.subarray(rest);
    });
    socket.on('error', reject);
    closers.push(() => socket.destroy());
  });
}

async function openNats(client: number, url: string, subject: string): Promise<void> {
  const nc: NatsConnection = await connect({ servers: url });
  nc.subscribe(subject, {
    callback: isTimed(client) ? (_err, msg) => onEventText(client, msg.string()) : () => countEvent(client),
  });
  await nc.flush();
  closers.push(() => nc.close());
}

async function open(command: Extract<LoadCommand, { cmd: 'open' }>): Promise<void> {
  const { kind, url, count, query } = command;
  // Connections open a few at a time, so that the server's accept queue does not overflow.
  for (let start = 0; start < count; start += 100) {
    const opening: Array<Promise<void>> = [];
    for (let i = start; i < Math.min(count, start + 100); i++) {
      const client = received.length;
      received.push(0);
      lastN.push(-1);
      if (kind === 'raw-ws') opening.push(openRawWs(client, url, query));
      else if (kind === 'raw-sse') opening.push(openRawSse(client, url, query));
      else opening.push(openNats(client, url, command.subject as string));
    }
    await Promise.all(opening);
  }
  send({ type: 'opened', count });
}

function report(): LoadReport {
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number) =>
    sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : Number.NaN;
  return {
    delivered,
    samples: sorted.length,
    p50: at(0.5),
    p99: at(0.99),
    fewest: received.length ? Math.min(...received) : 0,
    most: received.length ? Math.max(...received) : 0,
    outOfOrder,
    errors,
  };
}

let lastProgress = -1;
setInterval(() => {
  if (delivered !== lastProgress) send({ type: 'progress', delivered });
  lastProgress = delivered;
}, 50).unref();

process.on('message', async (message: LoadCommand) => {
  if (message.cmd === 'open') await open(message);
  else if (message.cmd === 'measure') {
    isMeasuring = message.isOn;
    if (message.isOn) {
      samples = [];
      // The last window's samples and clients are collected now, not in the middle of this one.
      (globalThis as { gc?: () => void }).gc?.();
    }
  } else if (message.cmd === 'report') send({ type: 'report', ...report() });
  else if (message.cmd === 'close') {
    await Promise.allSettled(closers.splice(0).map((close) => close()));
    received.length = 0;
    lastN.length = 0;
    delivered = 0;
    errors = 0;
    outOfOrder = 0;
    samples = [];
    send({ type: 'closed' });
  }
});
process.on('disconnect', () => process.exit(0));
