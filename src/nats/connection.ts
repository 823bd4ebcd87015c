import { readFile } from 'node:fs/promises';
import {
  type Authenticator,
  connect,
  credsAuthenticator,
  type NatsConnection,
  type NodeConnectionOptions,
  nkeyAuthenticator,
} from '@nats-io/transport-node';
import type { Logger } from 'pino';

/** How to reach NATS and prove who we are. */
export interface NatsConnectOptions {
  servers: string[];
  credsFile?: string;
  user?: string;
  pass?: string;
  token?: string;
  /** A file holding an nkey seed. */
  nkeySeedFile?: string;
  /** TLS files: a CA to trust, and a client certificate and key. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** Shown in the server's connection list. Default "pulse". */
  name?: string;
  /** How often to ping the server so that a dead connection is noticed. Default 3000. */
  pingIntervalMs?: number;
  /** Told each time the connection comes back after it was lost (for metrics). Default none. */
  onReconnect?: () => void;
}

export type NatsState = 'connected' | 'disconnected' | 'reconnecting' | 'closed';

/** A NATS connection that reconnects forever, and what it knows of its own state. */
export interface NatsLink {
  readonly nc: NatsConnection;
  state(): NatsState;
  isConnected(): boolean;
  /** How many times the connection came back after it was lost. */
  reconnects(): number;
  /** Lets in-flight requests finish, then closes; closes at once when NATS is unreachable. */
  drain(timeoutMs?: number): Promise<void>;
}

export async function connectNats(options: NatsConnectOptions, log: Logger): Promise<NatsLink> {
  const connectOptions: NodeConnectionOptions = {
    servers: options.servers,
    name: options.name ?? 'pulse',
    // Never give up: while NATS is away the API stays up and answers EVENT_BUS_UNAVAILABLE.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 250,
    waitOnFirstConnect: true,
    pingInterval: options.pingIntervalMs ?? 3000,
    maxPingOut: 2,
    timeout: 5000,
    // Otherwise every request (each JetStream publish) captures a stack trace up front, in case it
    // times out: a few per cent of the CPU of a busy process.
    noAsyncTraces: true,
  };
  if (options.tls) connectOptions.tls = { ...options.tls };
  const authenticator = await buildAuthenticator(options);
  if (authenticator) connectOptions.authenticator = authenticator;
  else if (options.user !== undefined) Object.assign(connectOptions, { user: options.user, pass: options.pass });
  else if (options.token !== undefined) connectOptions.token = options.token;

  const nc = await connect(connectOptions);
  let state: NatsState = 'connected';
  let reconnects = 0;
  log.info({ server: nc.getServer() }, 'connected to NATS');

  void (async () => {
    for await (const status of nc.status()) {
      switch (status.type) {
        case 'disconnect':
          state = 'disconnected';
          log.warn({ server: status.server }, 'NATS connection lost; reconnecting');
          break;
        case 'reconnecting':
          state = 'reconnecting';
          break;
        case 'reconnect':
          state = 'connected';
          reconnects++;
          options.onReconnect?.();
          log.info({ server: status.server }, 'NATS connection restored');
          break;
        case 'error':
          log.warn({ err: status.error }, 'NATS reported an error');
          break;
      }
    }
  })();
  void nc.closed().then(() => {
    state = 'closed';
  });

  const link: NatsLink = {
    nc,
    state: () => state,
    isConnected: () => state === 'connected' && !nc.isClosed(),
    reconnects: () => reconnects,
    async drain(timeoutMs = 5000) {
      if (nc.isClosed()) return;
      // A drain needs the server to confirm; with the server gone it would wait forever, so
      // past the timeout the connection is simply closed (nothing buffered is lost: publishes
      // are only ever acknowledged ones).
      if (!link.isConnected()) return nc.close();
      let timer: NodeJS.Timeout | undefined;
      const giveUp = new Promise<void>((resolve) => {
        timer = setTimeout(() => resolve(nc.close()), timeoutMs);
      });
      await Promise.race([nc.drain().catch(() => nc.close()), giveUp]);
      clearTimeout(timer);
    },
  };
  return link;
}

// Secrets are read here and handed to the client; they are never logged (only the server address is).
async function buildAuthenticator(options: NatsConnectOptions): Promise<Authenticator | undefined> {
  if (options.credsFile) return credsAuthenticator(new Uint8Array(await readFile(options.credsFile)));
  if (options.nkeySeedFile) {
    const seed = (await readFile(options.nkeySeedFile, 'utf8')).trim();
    return nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  return undefined;
}
