import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';
import { inspectStream, type StreamInspector } from './support/stream-messages.js';

type Pulse = Awaited<ReturnType<typeof startTestPulse>>;

/** A raw POST to /graphql; `chunked` sends the body without a Content-Length. */
function post(
  baseUrl: string,
  body: string | Buffer,
  options: { contentType?: string; chunked?: boolean } = {},
): Promise<{
  status: number;
  json: { data?: unknown; errors?: Array<{ message: string; extensions?: { code?: string } }> };
}> {
  const url = new URL(`${baseUrl}/graphql`);
  const payload = typeof body === 'string' ? Buffer.from(body) : body;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: {
          'content-type': options.contentType ?? 'application/json',
          accept: 'application/graphql-response+json',
          ...(options.chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(payload.length) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) }),
        );
      },
    );
    // The server may answer (413) before it read everything; that is not a failure of the test.
    req.on('error', (err: NodeJS.ErrnoException) =>
      err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err),
    );
    if (options.chunked) {
      for (let offset = 0; offset < payload.length; offset += 64 * 1024)
        req.write(payload.subarray(offset, offset + 64 * 1024));
      req.end();
    } else req.end(payload);
  });
}

const TRACK_BATCH = 'mutation($events: [TrackEventInput!]!) { trackBatch(events: $events) { accepted } }';

describe('request bodies: read, bounded and refused like GraphQL over HTTP says', () => {
  let nats: TestNats;
  let small: Pulse;
  let large: Pulse;
  let smallStream: StreamInspector;
  let largeStream: StreamInspector;

  before(async () => {
    nats = await startNats();
    // Bodies up to 1 event of 1 KiB properties (plus room for its other fields and the query): about 1 MiB.
    small = await startTestPulse(testEnv(nats.url, { PULSE_MAX_BATCH: '1', PULSE_MAX_PROPERTIES_BYTES: '1KiB' }));
    large = await startTestPulse(testEnv(nats.url, { PULSE_MAX_BATCH: '100', PULSE_MAX_PROPERTIES_BYTES: '256KiB' }));
    smallStream = await inspectStream(nats.url, small.env.PULSE_STREAM);
    largeStream = await inspectStream(nats.url, large.env.PULSE_STREAM);
  });
  after(async () => {
    await smallStream?.close();
    await largeStream?.close();
    await small?.close();
    await large?.close();
    await nats?.destroy();
  });

  test('a body that is not a JSON object is refused with 400 BAD_REQUEST, and nothing is stored', async () => {
    const cases: Array<[string, RegExp]> = [
      ['{"query": "mutation {', /invalid JSON/],
      ['[{"query":"{ __typename }"}]', /batched operations are not supported/],
      ['"mutation { x }"', /received a string/],
      ['42', /received 42/],
      ['null', /received null/],
      ['{}', /Must provide query string/],
    ];
    for (const [body, message] of cases) {
      const res = await post(small.url, body);
      assert.equal(res.status, 400, body);
      assert.equal(res.json.errors?.[0].extensions?.code, 'BAD_REQUEST', body);
      assert.match(res.json.errors?.[0].message ?? '', message);
    }
    assert.equal(await smallStream.count(), 0);
  });

  test('a body over the bound is refused with 413, with or without a Content-Length', async () => {
    const body = JSON.stringify({
      query: TRACK_BATCH,
      variables: { events: [{ type: 'x', userId: 'u', properties: { pad: 'x'.repeat(1_200_000) } }] },
    });
    for (const chunked of [false, true]) {
      const res = await post(small.url, body, { chunked });
      assert.equal(res.status, 413, `chunked: ${chunked}`);
      assert.equal(res.json.errors?.[0].extensions?.code, 'REQUEST_ENTITY_TOO_LARGE');
    }
    assert.equal(await smallStream.count(), 0);
    const ok = await post(
      small.url,
      JSON.stringify({ query: TRACK_BATCH, variables: { events: [{ type: 'x', userId: 'u' }] } }),
      {
        chunked: true,
      },
    );
    assert.equal(ok.status, 200, 'a chunked body within the bound is read');
    assert.deepEqual(ok.json.data, { trackBatch: { accepted: 1 } });
  });

  test('the largest valid batch fits: every event at the properties bound (over 25 MB here)', async () => {
    const events = Array.from({ length: 100 }, (_, i) => ({
      id: `big-${i}`,
      type: 'upload',
      userId: 'u',
      properties: { blob: 'b'.repeat(256 * 1024 - '{"blob":""}'.length) },
    }));
    const body = JSON.stringify({ query: TRACK_BATCH, variables: { events } });
    assert.ok(body.length > 25_000_000);
    const res = await post(large.url, body);
    assert.equal(res.status, 200, JSON.stringify(res.json.errors));
    assert.deepEqual(res.json.data, { trackBatch: { accepted: 100 } });
    assert.equal(await largeStream.count(), 100);
  });

  test('other GraphQL bodies (application/graphql) still go through', async () => {
    const res = await post(small.url, 'mutation { track(event: { type: "plain", userId: "u" }) { duplicate } }', {
      contentType: 'application/graphql',
    });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.deepEqual(res.json.data, { track: { duplicate: false } });
  });
});
