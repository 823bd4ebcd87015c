import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gql } from './support/graphql.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';

type Pulse = Awaited<ReturnType<typeof startTestPulse>>;

describe('read your writes: minCursor waits, bounded, for the projector', () => {
  let nats: TestNats;
  let env: Record<string, string>;
  const started: Pulse[] = [];
  const start = async (overrides: Record<string, string>) => {
    const pulse = await startTestPulse({ ...env, ...overrides });
    started.push(pulse);
    return pulse;
  };
  const track = async (pulse: Pulse, userId: string) => {
    const res = await gql(
      pulse.url,
      'mutation($u: ID!) { track(event: { type: "t", userId: $u }) { event { cursor } } }',
      {
        u: userId,
      },
    );
    return res.data?.track.event.cursor as string;
  };
  const countOf = (pulse: Pulse, userId: string, cursor: string) =>
    gql(pulse.url, 'query($u: ID!, $c: String) { user(id: $u, minCursor: $c) { eventCount } }', {
      u: userId,
      c: cursor,
    });

  before(async () => {
    nats = await startNats();
    env = testEnv(nats.url);
  });
  after(async () => {
    for (const pulse of started.reverse()) await pulse.close();
    await nats?.destroy();
  });

  test('with no projector running, the wait ends in CONSISTENCY_TIMEOUT', async () => {
    const api = await start({ PULSE_PROJECTOR: 'off', PULSE_CONSISTENCY_TIMEOUT: '1s' });
    const cursor = await track(api, 'alice');
    const res = await countOf(api, 'alice', cursor);
    assert.equal(res.data?.user, null);
    assert.equal(res.errors?.[0].extensions?.code, 'CONSISTENCY_TIMEOUT');
    assert.equal(res.errors?.[0].extensions?.minCursor, cursor);
    assert.equal(res.errors?.[0].extensions?.position, 0);
    const bad = await countOf(api, 'alice', 'not-a-cursor');
    assert.equal(bad.errors?.[0].extensions?.code, 'BAD_USER_INPUT');
    assert.match(bad.errors?.[0].message ?? '', /^minCursor/);
  });

  test('a query waiting for its cursor answers once a projector applies the event', async () => {
    const api = await start({ PULSE_PROJECTOR: 'off', PULSE_CONSISTENCY_TIMEOUT: '20s' });
    const cursor = await track(api, 'bob');
    const answer = countOf(api, 'bob', cursor);
    let isAnswered = false;
    void answer.then(() => {
      isAnswered = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(isAnswered, false, 'nothing has applied the event yet');
    await start({}); // a process whose projector applies it
    const res = await answer;
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    assert.deepEqual(res.data?.user, { eventCount: 1 });
  });

  test('track then read with the cursor: the answer reflects the write, every time', async () => {
    const api = await start({});
    for (let i = 1; i <= 5; i++) {
      const cursor = await track(api, 'carol');
      const res = await countOf(api, 'carol', cursor);
      assert.equal(res.errors, undefined, JSON.stringify(res.errors));
      assert.deepEqual(res.data?.user, { eventCount: i });
    }
  });
});
