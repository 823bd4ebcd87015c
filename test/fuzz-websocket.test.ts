// Hostile input against GraphQL over WebSocket (graphql-transport-ws): protocol violations, bad
// frames, sockets cut mid-frame. Each must end in a protocol close code or a coded error, never
// a crash, and the server must go on serving other clients and release every connection slot.
// FUZZ_SEED=<seed> replays a run.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { checkResult, fuzzParameters, leakIn, readMetric, sendHttp, Tally } from './support/hostile-input.js';
import { subscribeWs, track, wsClient, wsUrl } from './support/live-clients.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';
import { clientFrame, openRawWs, type RawWsSession, upgradedSocket } from './support/raw-websocket.js';

const INIT = JSON.stringify({ type: 'connection_init' });
const MESSAGE_TYPES = new Set(['connection_ack', 'ping', 'pong', 'next', 'error', 'complete']);
// Codes a server may close with for a client's mistake: graphql-ws's 44xx, ws's frame errors, a
// normal close. 4500 (internal error), 1011 and 1006 (no close frame) are failures.
const PROTOCOL_CLOSES = new Set([1000, 1002, 1007, 1009, 1013, 4400, 4401, 4403, 4406, 4408, 4409, 4429]);

/** Every message the server sent is a graphql-ws message, and every error in it has a code. */
function judgeMessages(session: RawWsSession, context: string, tally: Tally): void {
  for (const text of session.messages) {
    const where = `${context} -> ${text.slice(0, 300)}`;
    assert.equal(leakIn(text.slice(0, 100_000)), undefined, `${where}: internals`);
    const message = JSON.parse(text) as { type?: string; payload?: unknown };
    assert.ok(MESSAGE_TYPES.has(String(message.type)), `${where}: an unknown message type`);
    tally.count(tally.kinds, String(message.type));
    let codes: string[] = [];
    if (message.type === 'error') codes = checkResult({ errors: message.payload }, where);
    if (message.type === 'next') codes = checkResult(message.payload, where);
    for (const code of codes) tally.count(tally.codes, code);
  }
}

function judgeClose(session: RawWsSession, context: string, tally: Tally): void {
  const code = session.closed?.code;
  tally.count(tally.statuses, code === undefined ? 'open' : String(code));
  if (code === undefined) return;
  assert.ok(PROTOCOL_CLOSES.has(code), `${context}: closed with ${code} ${session.closed?.reason}`);
}

const liveConnections = (baseUrl: string) => readMetric(baseUrl, /^pulse_live_connections (\d+)$/m);
const wsSubscribers = (baseUrl: string) => readMetric(baseUrl, /^pulse_live_subscribers\{transport="ws"\} (\d+)$/m);

describe('hostile input over WebSocket: protocol close codes or coded errors, never a crash', () => {
  let nats: TestNats;
  let pulse: Awaited<ReturnType<typeof startTestPulse>>;
  let url: string;

  before(async () => {
    nats = await startNats();
    pulse = await startTestPulse(testEnv(nats.url));
    url = wsUrl(pulse.url);
  });
  after(async () => {
    await pulse?.close();
    await nats?.destroy();
  });

  /** Another client, with the graphql-ws library, is served: a query answers. */
  async function assertServesOthers(): Promise<void> {
    const client = wsClient(pulse.url);
    try {
      const result = await new Promise<unknown>((resolve, reject) => {
        let value: unknown;
        client.subscribe(
          { query: '{ __typename }' },
          { next: (r) => (value = r), error: reject, complete: () => resolve(value) },
        );
        setTimeout(() => reject(new Error('no answer over WebSocket in 10 s')), 10_000).unref();
      });
      assert.deepEqual(result, { data: { __typename: 'Query' } });
    } finally {
      await client.dispose();
    }
    assert.equal((await sendHttp(pulse.url, { method: 'GET', path: '/healthz' })).status, 200);
  }

  /** Every connection slot is released once the sockets are gone. */
  async function assertNoConnectionsHeld(): Promise<void> {
    const deadline = Date.now() + 10_000;
    let held = await liveConnections(pulse.url);
    while (held !== 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      held = await liveConnections(pulse.url);
    }
    assert.equal(held, 0, 'live connections held after every socket closed');
  }

  async function initialised(): Promise<RawWsSession> {
    const session = await openRawWs(url);
    session.sendText(INIT);
    assert.ok(await session.waitForMessage((m) => m.includes('connection_ack'), 5000), 'connection_ack');
    return session;
  }

  test('each protocol violation ends in its close code or a coded error', async () => {
    const tally = new Tally('websocket: listed protocol violations');
    const subscribe = (id: string, query: string, variables?: unknown) =>
      JSON.stringify({ id, type: 'subscribe', payload: { query, variables } });
    // A limit's refusal may be worded by the document limits in force: any of the codes listed.
    const cases: Array<{
      name: string;
      isInitialised: boolean;
      send: (s: RawWsSession) => void;
      close?: number;
      codes?: string[];
    }> = [
      {
        name: 'subscribe before connection_init',
        isInitialised: false,
        send: (s) => s.sendText(subscribe('1', '{ __typename }')),
        close: 4401,
      },
      { name: 'a second connection_init', isInitialised: true, send: (s) => s.sendText(INIT), close: 4429 },
      {
        // graphql-ws quotes the id in its close reason: cut to fit, not a 4500.
        name: 'a second subscribe under a long id still running',
        isInitialised: true,
        send: (s) => {
          const id = 'a'.repeat(300);
          s.sendText(subscribe(id, 'subscription { events { id } }'));
          s.sendText(subscribe(id, 'subscription { events { id } }'));
        },
        close: 4409,
      },
      {
        name: 'an unknown message type',
        isInitialised: true,
        send: (s) => s.sendText('{"type":"gimme"}'),
        close: 4400,
      },
      { name: 'invalid JSON', isInitialised: true, send: (s) => s.sendText('{"type":'), close: 4400 },
      { name: 'JSON that is no message', isInitialised: true, send: (s) => s.sendText('[1,2]'), close: 4400 },
      {
        name: 'a binary frame of garbage',
        isInitialised: true,
        send: (s) => s.sendBytes(Buffer.from([0xff, 0, 0x81]), { binary: true }),
        close: 4400,
      },
      {
        name: 'a text frame of invalid UTF-8',
        isInitialised: true,
        send: (s) => s.sendBytes(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false }),
        close: 1007,
      },
      {
        name: 'subscribe with an id in use',
        isInitialised: true,
        send: (s) => {
          s.sendText(subscribe('dup', 'subscription { events { id } }'));
          s.sendText(subscribe('dup', 'subscription { events { id } }'));
        },
        close: 4409,
      },
      {
        name: 'a frame over 1 MiB',
        isInitialised: true,
        send: (s) => s.sendText(`{"type":"ping","payload":"${'x'.repeat(1_100_000)}"}`),
        close: 1009,
      },
      {
        name: 'connection_init with a payload that is no object',
        isInitialised: false,
        send: (s) => s.sendText('{"type":"connection_init","payload":"x"}'),
        close: 4400,
      },
      {
        name: 'subscribe without an id',
        isInitialised: true,
        send: (s) => s.sendText('{"type":"subscribe","payload":{"query":"{ __typename }"}}'),
        close: 4400,
      },
      {
        name: 'subscribe without a query',
        isInitialised: true,
        send: (s) => s.sendText('{"id":"1","type":"subscribe","payload":{}}'),
        close: 4400,
      },
      {
        name: 'a syntax error',
        isInitialised: true,
        send: (s) => s.sendText(subscribe('1', 'subscription {')),
        codes: ['GRAPHQL_PARSE_FAILED'],
      },
      {
        name: 'a document 5,000 levels deep',
        isInitialised: true,
        send: (s) => s.sendText(subscribe('1', `{${'a{'.repeat(5000)}b${'}'.repeat(5000)}}`)),
        codes: ['GRAPHQL_PARSE_FAILED', 'LIMIT_EXCEEDED'],
      },
      {
        name: 'thousands of aliases',
        isInitialised: true,
        send: (s) =>
          s.sendText(subscribe('1', `{ ${Array.from({ length: 3000 }, (_, i) => `a${i}: __typename`).join(' ')} }`)),
        codes: ['GRAPHQL_VALIDATION_FAILED', 'LIMIT_EXCEEDED'],
      },
      {
        name: 'a filter of the wrong type',
        isInitialised: true,
        send: (s) =>
          s.sendText(subscribe('1', 'subscription($f: EventFilter) { events(filter: $f) { id } }', { f: 5 })),
        codes: ['BAD_USER_INPUT'],
      },
      {
        name: 'a cursor that is none',
        isInitialised: true,
        send: (s) => s.sendText(subscribe('1', 'subscription { events(after: "\\u0000zz") { id } }')),
        codes: ['BAD_USER_INPUT'],
      },
      {
        name: 'an unknown field',
        isInitialised: true,
        send: (s) => s.sendText(subscribe('1', 'subscription { nope }')),
        codes: ['GRAPHQL_VALIDATION_FAILED'],
      },
    ];
    for (const c of cases) {
      tally.sent++;
      const session = c.isInitialised ? await initialised() : await openRawWs(url);
      try {
        c.send(session);
        if (c.close !== undefined) {
          await session.settle(5000, 5000);
          assert.equal(session.closed?.code, c.close, `${c.name}: closed with ${JSON.stringify(session.closed)}`);
        } else {
          const isAnswered = (m: string) => (c.codes ?? []).some((code) => m.includes(`"code":"${code}"`));
          assert.ok(await session.waitForMessage(isAnswered, 5000), `${c.name}: ${session.messages}`);
        }
        tally.answered++;
        judgeMessages(session, c.name, tally);
        judgeClose(session, c.name, tally);
      } finally {
        await session.close();
      }
    }
    // No connection_init at all: graphql-ws waits 3 s, then 4408.
    tally.sent++;
    const silent = await openRawWs(url);
    await silent.settle(10_000, 10_000);
    assert.equal(silent.closed?.code, 4408);
    tally.answered++;
    judgeClose(silent, 'no connection_init', tally);
    await assertServesOthers();
    await assertNoConnectionsHeld();
    tally.print();
  });

  test('generated message sequences: protocol close codes or coded errors only', async () => {
    const tally = new Tally('websocket: generated message sequences');
    const ids = fc.constantFrom('1', '2', 'x', '', '\u0000', 'a'.repeat(300));
    const queries = fc.constantFrom(
      '{ __typename }',
      'subscription { events { id type } }',
      'subscription { events(after: "zz") { id } }',
      'subscription { events(since: "yesterday") { id } }',
      'subscription($f: EventFilter) { events(filter: $f) { id } }',
      'subscription { liveCounts(interval: HOUR) { position } }',
      '{ user(id: "u1") { id } eventTypes { type } }',
      'subscription {',
      `{${'a{'.repeat(3000)}b${'}'.repeat(3000)}}`,
      'subscription { events { id } } subscription B { events { id } }',
      'query { user(id: 5) { id } }',
    );
    const action = fc.oneof(
      fc.constant({ kind: 'init' as const }),
      fc
        .jsonValue({ maxDepth: 2 })
        .map((payload) => ({ kind: 'text' as const, text: JSON.stringify({ type: 'connection_init', payload }) })),
      {
        weight: 6,
        arbitrary: fc
          .record({
            id: ids,
            query: queries,
            variables: fc.oneof(
              { weight: 3, arbitrary: fc.constant(undefined) },
              { weight: 3, arbitrary: fc.record({ f: fc.jsonValue({ maxDepth: 2 }) }) },
              { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
            ),
          })
          .map(({ id, query, variables }) => ({
            kind: 'text' as const,
            text: JSON.stringify({ id, type: 'subscribe', payload: { query, variables } }),
          })),
      },
      ids.map((id) => ({ kind: 'text' as const, text: JSON.stringify({ id, type: 'complete' }) })),
      fc.constantFrom('ping', 'pong').map((type) => ({ kind: 'text' as const, text: JSON.stringify({ type }) })),
      fc
        .record(
          {
            type: fc.string({ maxLength: 12 }),
            id: fc.option(fc.jsonValue({ maxDepth: 1 })),
            payload: fc.option(fc.jsonValue({ maxDepth: 2 })),
          },
          { requiredKeys: ['type'] },
        )
        .map((message) => ({ kind: 'text' as const, text: JSON.stringify(message) })),
      fc.jsonValue({ maxDepth: 2 }).map((value) => ({ kind: 'text' as const, text: JSON.stringify(value) })),
      fc.string({ unit: 'binary', maxLength: 40 }).map((text) => ({ kind: 'text' as const, text })),
      fc.uint8Array({ maxLength: 40 }).map((bytes) => ({ kind: 'binary' as const, bytes })),
      fc.uint8Array({ minLength: 1, maxLength: 8 }).map((bytes) => ({
        kind: 'badText' as const,
        bytes: Buffer.concat([Buffer.from([0xc3]), bytes, Buffer.from([0xff])]),
      })),
      fc.integer({ min: 1, max: 30 }).map((ms) => ({ kind: 'pause' as const, ms })),
    );
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.array(action, { minLength: 1, maxLength: 6 }), async (startsWithInit, rest) => {
        // Most sequences begin properly, so that what follows reaches the operations.
        const actions = startsWithInit ? [{ kind: 'init' as const }, ...rest] : rest;
        const context = JSON.stringify(actions).slice(0, 600);
        tally.sent += actions.length;
        const session = await openRawWs(url);
        try {
          for (const step of actions) {
            if (session.closed) break;
            if (step.kind === 'init') {
              session.sendText(INIT);
              await session.waitForMessage((m) => m.includes('connection_ack'), 300);
            } else if (step.kind === 'text') session.sendText(step.text);
            else if (step.kind === 'binary') session.sendBytes(step.bytes, { binary: true });
            else if (step.kind === 'badText') session.sendBytes(step.bytes, { binary: false });
            else await new Promise((resolve) => setTimeout(resolve, step.ms));
          }
          await session.settle(40, 1000);
          tally.answered += actions.length;
          judgeMessages(session, context, tally);
          judgeClose(session, context, tally);
        } finally {
          await session.close();
        }
        if (++runs % 50 === 0) await assertServesOthers();
      }),
      fuzzParameters(600),
    );
    await assertServesOthers();
    await assertNoConnectionsHeld();
    tally.print();
  });

  test('a socket destroyed mid-frame after the upgrade leaves the server serving others', async () => {
    const tally = new Tally('websocket: sockets destroyed mid-frame');
    const frames = fc.oneof(
      fc.constant(Buffer.from(INIT)),
      fc.constant(Buffer.from(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: '{ __typename }' } }))),
      fc.integer({ min: 126, max: 200_000 }).map((n) => Buffer.from(`{"type":"ping","payload":"${'p'.repeat(n)}"}`)),
    );
    await fc.assert(
      fc.asyncProperty(
        frames,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.boolean(),
        async (payload, cut, initFirst) => {
          tally.sent++;
          const socket = await upgradedSocket(pulse.url);
          const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
          socket.on('error', () => {});
          if (initFirst) socket.write(clientFrame(Buffer.from(INIT)));
          const frame = clientFrame(payload);
          const at = Math.max(1, Math.min(frame.length - 1, Math.floor(cut * frame.length)));
          socket.write(frame.subarray(0, at));
          // Half a frame out, then gone: no close frame, maybe not even the rest of a header.
          await new Promise((resolve) => setImmediate(resolve));
          socket.destroy();
          await closed;
          tally.answered++;
        },
      ),
      fuzzParameters(120),
    );
    // Frames no client may send: unmasked, a reserved opcode. ws closes them with 1002.
    for (const frame of [
      clientFrame(Buffer.from(INIT), { isMasked: false }),
      clientFrame(Buffer.from('x'), { opcode: 0x3 }),
    ]) {
      tally.sent++;
      const socket = await upgradedSocket(pulse.url);
      const reply = await new Promise<Buffer>((resolve) => {
        const chunks: Buffer[] = [];
        socket.on('data', (chunk: Buffer) => chunks.push(chunk));
        socket.on('close', () => resolve(Buffer.concat(chunks)));
        socket.on('error', () => {});
        socket.write(frame);
        setTimeout(() => socket.destroy(), 5000).unref();
      });
      // A close frame (opcode 8) carrying 1002.
      assert.equal(reply[0], 0x88, `a close frame: ${reply.toString('hex')}`);
      assert.equal(reply.readUInt16BE(2), 1002);
      tally.answered++;
      tally.count(tally.statuses, '1002');
    }
    await assertServesOthers();
    await assertNoConnectionsHeld();
    tally.print();
  });

  test('afterwards a live subscription over graphql-ws still receives new events', async () => {
    const client = wsClient(pulse.url);
    try {
      const live = subscribeWs(client, 'subscription { events { id type } }');
      // The subscription is live once the server counts it; then the event is sent.
      const deadline = Date.now() + 10_000;
      while ((await wsSubscribers(pulse.url)) < 1 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const sent = await track(pulse.url, { type: 'after-fuzz', userId: 'u1' });
      await live.waitForEvents(1, 10_000);
      assert.deepEqual(live.events[0].id, sent.id);
      assert.deepEqual(live.errors, []);
      live.stop();
    } finally {
      await client.dispose();
    }
    await assertNoConnectionsHeld();
  });
});
