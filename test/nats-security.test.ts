import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createUser } from '@nats-io/nkeys';
import { gql } from './support/graphql.js';
import { startNats } from './support/nats-server.js';
import { spawnPulse, startTestPulse, testEnv } from './support/pulse.js';

const TRACK = 'mutation { track(event: { type: "login", userId: "u1" }) { duplicate event { id } } }';

async function tracksOnce(url: string): Promise<void> {
  const res = await gql(url, TRACK);
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  assert.equal(res.data.track.duplicate, false);
}

describe('NATS connection security', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pulse-nats-sec-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('user and password: connects, and the password never reaches the logs', async (t) => {
    const nats = await startNats({ extraArgs: ['--user', 'pulse', '--pass', 'pw-Zq81-never-logged'] });
    const pulse = await spawnPulse(
      testEnv(nats.url, { NATS_USER: 'pulse', NATS_PASS: 'pw-Zq81-never-logged', PULSE_LOG_LEVEL: 'trace' }),
    );
    t.after(async () => {
      await pulse.stop();
      await nats.destroy();
    });
    await tracksOnce(pulse.url);
    assert.doesNotMatch(pulse.output(), /pw-Zq81-never-logged/);
  });

  test('token', async (t) => {
    const nats = await startNats({ extraArgs: ['--auth', 'tok-4b1d-secret'] });
    const pulse = await startTestPulse(testEnv(nats.url, { NATS_TOKEN: 'tok-4b1d-secret' }));
    t.after(async () => {
      await pulse.close();
      await nats.destroy();
    });
    await tracksOnce(pulse.url);
  });

  test('nkey seed file', async (t) => {
    const user = createUser();
    const seedFile = join(dir, 'user.nk');
    await writeFile(seedFile, new TextDecoder().decode(user.getSeed()));
    const conf = join(dir, 'nkey.conf');
    await writeFile(conf, `authorization { users = [ { nkey: "${user.getPublicKey()}" } ] }\n`);
    const nats = await startNats({ extraArgs: ['-c', conf] });
    const pulse = await startTestPulse(testEnv(nats.url, { NATS_NKEY_SEED_FILE: seedFile }));
    t.after(async () => {
      await pulse.close();
      await nats.destroy();
    });
    await tracksOnce(pulse.url);
  });

  test('mutual TLS with a CA, a client certificate and key', async (t) => {
    const file = (name: string) => join(dir, name);
    const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
    ssl(
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=pulse-test-ca'],
      ...['-keyout', file('ca.key'), '-out', file('ca.pem')],
    );
    for (const [name, extra] of [
      ['server', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
      ['client', 'extendedKeyUsage=clientAuth'],
    ]) {
      ssl(
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-subj',
        `/CN=${name}`,
        '-keyout',
        file(`${name}.key`),
        '-out',
        file(`${name}.csr`),
      );
      await writeFile(file(`${name}.ext`), `${extra}\n`);
      ssl(
        ...['x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.pem'), '-CAkey', file('ca.key')],
        ...['-CAcreateserial', '-days', '1', '-extfile', file(`${name}.ext`), '-out', file(`${name}.pem`)],
      );
    }
    const nats = await startNats({
      extraArgs: [
        ...['--tls', '--tlscert', file('server.pem'), '--tlskey', file('server.key')],
        ...['--tlscacert', file('ca.pem'), '--tlsverify'],
      ],
    });
    const pulse = await startTestPulse(
      testEnv(`tls://127.0.0.1:${nats.port}`, {
        NATS_TLS_CA: file('ca.pem'),
        NATS_TLS_CERT: file('client.pem'),
        NATS_TLS_KEY: file('client.key'),
      }),
    );
    t.after(async () => {
      await pulse.close();
      await nats.destroy();
    });
    await tracksOnce(pulse.url);
  });
});
