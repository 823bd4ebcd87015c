import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ExecutionArgs, execute, parse } from 'graphql';
import { encodeCursor, type StoredEvent } from '../src/events/index.js';
import { createPayloadRenderers, eventsPayloadKey, schema } from '../src/graphql/index.js';

const eventAt = (seq: number): StoredEvent => ({
  seq,
  id: `evt-${seq}`,
  type: 'page_view',
  userId: 'u1',
  anonymousId: null,
  properties: { n: seq },
  occurredAt: '2026-01-01T00:00:00.000Z',
  receivedAt: '2026-01-01T00:00:00.000Z',
});

test('subscribers sharing a selection share each rendered payload, for a whole broadcast batch', () => {
  const args = (document: string): ExecutionArgs => ({ schema, document: parse(document), contextValue: {} });
  const first = args('subscription { events { id type cursor properties } }');
  const second = args('subscription($f: EventFilter) { events(filter: $f) { id type cursor properties } }');
  const key = eventsPayloadKey(first) as string;
  assert.equal(eventsPayloadKey(second), key, 'arguments outside the selection do not split the key');

  const renderers = createPayloadRenderers((errors) => assert.fail(String(errors)));
  const a = renderers.acquire(first, key);
  const b = renderers.acquire(second, key);
  assert.equal(a.renderer, b.renderer);
  // A broadcast batch (up to 256 events) goes to one subscriber, then to the next.
  const batch = Array.from({ length: 256 }, (_, i) => eventAt(i + 1));
  const forFirst = batch.map((event) => a.renderer.result(event));
  const forSecond = batch.map((event) => b.renderer.result(event));
  for (const [index, result] of forSecond.entries()) {
    assert.equal(result, forFirst[index], `event ${index + 1} rendered twice`);
  }
  assert.deepEqual(JSON.parse(a.renderer.json(batch[9])), {
    data: { events: { id: 'evt-10', type: 'page_view', cursor: encodeCursor(10), properties: { n: 10 } } },
  });
  a.release();
  b.release();
  assert.equal(renderers.size, 0);
});

test('a compiled selection renders what graphql-js executes: aliases, fragments, directives, variables, scalars', () => {
  const document = parse(`
    subscription Feed($withUser: Boolean!, $f: EventFilter) {
      feed: events(filter: $f) {
        __typename
        key: id
        ...Where
        ... on Event { cursor properties }
        userId @include(if: $withUser)
        anonymousId @skip(if: $withUser)
      }
    }
    fragment Where on Event { type occurredAt receivedAt }
  `);
  const events = [
    eventAt(7),
    { ...eventAt(8), userId: null, anonymousId: 'anon-8', properties: { nested: { list: [1, 'two', null] } } },
  ];
  for (const withUser of [true, false]) {
    const args: ExecutionArgs = {
      schema,
      document,
      operationName: 'Feed',
      contextValue: {},
      variableValues: { withUser, f: { types: ['page_view'] } },
    };
    const key = eventsPayloadKey(args) as string;
    const renderers = createPayloadRenderers((errors) => assert.fail(String(errors)));
    const { renderer, release } = renderers.acquire(args, key);
    for (const event of events) {
      const expected = execute({ ...args, rootValue: event });
      assert.deepEqual(JSON.parse(renderer.json(event)), JSON.parse(JSON.stringify(expected)));
      assert.equal(JSON.parse(renderer.json(event)).data.feed.cursor, encodeCursor(event.seq));
    }
    release();
  }
});
