import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { validateKey } from '@nats-io/kv/internal';
import { HyperLogLog, kvToken } from '../src/projections/index.js';

describe('unique users: the HyperLogLog sketch', () => {
  for (const distinct of [1_000, 10_000, 100_000, 1_000_000]) {
    test(`estimates ${distinct.toLocaleString('en')} distinct ids within 2 %`, () => {
      const sketch = new HyperLogLog();
      for (let i = 0; i < distinct; i++) sketch.add(`user-${i}`);
      const error = Math.abs(sketch.estimate() - distinct) / distinct;
      assert.ok(error < 0.02, `estimate ${sketch.estimate()} is ${(error * 100).toFixed(2)} % off`);
    });
  }

  test('small sets are exact, repeats change nothing, and merged sketches count the union', () => {
    const a = new HyperLogLog();
    for (const id of ['alice', 'bob', 'carol', 'alice', 'bob']) a.add(id);
    assert.equal(a.estimate(), 3);
    const b = new HyperLogLog();
    for (let i = 50_000; i < 150_000; i++) b.add(`anon-${i}`);
    const c = new HyperLogLog();
    for (let i = 0; i < 100_000; i++) c.add(`anon-${i}`);
    const before = c.estimate();
    for (let i = 0; i < 100_000; i++) assert.equal(c.add(`anon-${i}`), false);
    assert.equal(c.estimate(), before);
    c.merge(b);
    assert.ok(Math.abs(c.estimate() - 150_000) / 150_000 < 0.02, `union estimate ${c.estimate()}`);
  });
});

describe('read-model keys', () => {
  const hostile = [
    'alice',
    'a.b',
    'a b',
    '*',
    '>',
    'a~20',
    'a=20',
    '=',
    '~',
    '',
    'café',
    '🙂',
    'x'.repeat(512),
    'é'.repeat(300),
  ];

  test('every id becomes one KV-safe token: no dot, no wildcard, nothing the client refuses', () => {
    for (const id of hostile) {
      const token = kvToken(id);
      assert.match(token, /^[-_=A-Za-z0-9]+$/, JSON.stringify(id));
      assert.ok(token.length <= 256, `${token.length} characters`);
      assert.doesNotThrow(() => validateKey(`u.${token}`));
    }
  });

  test('different ids never share a token', () => {
    const tokens = hostile.map(kvToken);
    assert.equal(new Set(tokens).size, hostile.length);
    assert.notEqual(kvToken('x'.repeat(512)), kvToken(`${'x'.repeat(511)}y`));
    assert.equal(kvToken('a b'), 'a=20b');
  });
});
