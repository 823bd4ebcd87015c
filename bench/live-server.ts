// A server child process of the live benchmark, driven over IPC: either Pulse itself (`pulse`) or
// the baseline (`bare`): a `ws` server and a plain SSE server that broadcast pre-serialised frames.
// Run with --expose-gc so that memory is measured after a collection.
import '../src/production-mode.js';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { startPulse } from '../src/app.js';
import { loadSettings } from '../src/config/index.js';
import { createLogger } from '../src/log/index.js';

export type ServerCommand = { cmd: 'memory' } | { cmd: 'broadcast'; frames: string[] } | { cmd: 'stop' };

export type ServerReply =
  | { type: 'ready'; url: string }
  | { type: 'memory'; heapUsed: number; external: number; rss: number }
  | { type: 'broadcasted'; sent: number };

const send = (reply: ServerReply) => process.send?.(reply);

function memory(): ServerReply {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 4; i++) gc?.();
  const usage = process.memoryUsage();
  return { type: 'memory', heapUsed: usage.heapUsed, external: usage.external, rss: usage.rss };
}

async function startBare(): Promise<{ url: string; broadcast(frames: string[]): number; stop(): Promise<void> }> {
  const streams = new Set<ServerResponse>();
  const http = createServer((req, res) => {
    // An idle SSE stream, held as Pulse holds one.
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(':\n\n');
    streams.add(res);
    req.on('close', () => streams.delete(res));
  });
  const wss = new WebSocketServer({ server: http, path: '/graphql' });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    broadcast(frames) {
      let sent = 0;
      for (const client of wss.clients) {
        if (client.readyState !== WebSocket.OPEN) continue;
        for (const frame of frames) client.send(frame);
        sent += frames.length;
      }
      return sent;
    },
    async stop() {
      for (const client of wss.clients) client.terminate();
      for (const res of streams) res.destroy();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

const mode = process.argv[2];
if (mode === 'pulse') {
  const settings = loadSettings(process.env);
  const app = await startPulse(settings, createLogger(settings.log));
  process.on('message', async (message: ServerCommand) => {
    if (message.cmd === 'memory') send(memory());
    if (message.cmd === 'stop') {
      await app.close();
      process.exit(0);
    }
  });
  send({ type: 'ready', url: app.url });
} else {
  const bare = await startBare();
  process.on('message', async (message: ServerCommand) => {
    if (message.cmd === 'memory') send(memory());
    if (message.cmd === 'broadcast') send({ type: 'broadcasted', sent: bare.broadcast(message.frames) });
    if (message.cmd === 'stop') {
      await bare.stop();
      process.exit(0);
    }
  });
  send({ type: 'ready', url: bare.url });
}
