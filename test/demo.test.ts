import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startGenerator } from '../src/demo/index.js';
import { decodeEvent } from '../src/events/index.js';
import { eventSubjects } from '../src/nats/index.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';
import { inspectStream } from './support/stream-messages.js';

const TYPES = new Set(['page_view', 'click', 'login', 'signup', 'add_to_cart', 'purchase']);

describe('demo traffic generator', () => {
  let nats: TestNats;
  let pulse: Awaited<ReturnType<typeof startTestPulse>>;
  before(async () => {
    nats = await startNats();
    pulse = await startTestPulse(testEnv(nats.url));
  });
  after(async () => {
    await pulse?.close();
    await nats?.destroy();
  });

  test('sends valid events through the public API at the rate asked (within 10 %)', async () => {
    const rate = 200;
    const generator = startGenerator({ url: pulse.url, rate, durationMs: 4000 });
    const stats = await generator.done;
    assert.equal(stats.failed, 0, `no failed sends (last error: ${stats.lastError})`);
    const measured = stats.sent / (stats.elapsedMs / 1000);
    assert.ok(Math.abs(measured - rate) / rate <= 0.1, `rate ${measured.toFixed(1)}/s is within 10 % of ${rate}/s`);

    const inspector = await inspectStream(nats.url, pulse.env.PULSE_STREAM);
    try {
      const messages = await inspector.messages();
      assert.equal(messages.length, stats.sent, 'every accepted event is in the stream once');
      const subjects = eventSubjects(pulse.env.PULSE_SUBJECT_PREFIX);
      const seen = new Map<string, number>();
      for (const message of messages) {
        const event = decodeEvent(message, subjects.typeOf);
        assert.ok(TYPES.has(event.type), `known type ${event.type}`);
        assert.ok(event.anonymousId, 'every visitor has an anonymousId');
        if (event.type === 'purchase') assert.equal(typeof event.properties.revenue, 'number');
        if (event.type === 'login') assert.ok(event.userId, 'a login names the user');
        seen.set(event.type, (seen.get(event.type) ?? 0) + 1);
      }
      const views = seen.get('page_view') ?? 0;
      assert.ok(views / messages.length > 0.3, 'page views are the most common event');
      assert.ok((seen.get('click') ?? 0) > 0, 'there are clicks');
    } finally {
      await inspector.close();
    }
  });
});
