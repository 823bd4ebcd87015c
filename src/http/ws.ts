import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type ExecutionArgs, GraphQLError } from 'graphql';
import type { OperationResult } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocket, WebSocketServer } from 'ws';
import type { AccessControl, Principal } from '../auth/index.js';
import { toClientError } from '../graphql/index.js';
import type { LiveConnection, LiveService } from '../live/index.js';
import type { Logger } from '../log/index.js';
import type { LiveDelivery } from './live-delivery.js';
import type { OriginPolicy } from './origins.js';
import { writeToSocket } from './ws-live.js';
import type { PulseYoga } from './yoga.js';

export interface GraphQLWebSocketOptions {
  yoga: PulseYoga;
  live: LiveService;
  delivery: LiveDelivery;
  log: Logger;
  /** The path WebSocket upgrades are taken on. Default "/graphql". */
  path?: string;
  /** How often each socket is pinged; one that does not answer in as long is dropped. Default 12000. */
  keepAliveMs?: number;
  /** Largest message a client may send, in bytes. Default 1 MiB. */
  maxPayloadBytes?: number;
  /** API keys: checked once, in connection_init. Default: open. */
  access?: AccessControl;
  /** Which browser origins may open a socket (same-origin and non-browser clients always may). Default: any. */
  origins?: OriginPolicy;
}

/** GraphQL over WebSocket (graphql-ws's graphql-transport-ws protocol) on the HTTP server's port. */
export interface GraphQLWebSocket {
  /** Takes an HTTP upgrade request; false when it is not for this endpoint. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Open WebSocket connections. */
  connections(): number;
  /** Closes every socket with 1001 (after completing its subscriptions) and takes no new ones. */
  close(): Promise<void>;
}

/** What one socket holds: its TCP socket (to batch frames), its slot in the live limits, its key. */
interface SocketState {
  raw: Duplex;
  slot: LiveConnection;
  /** Set in connection_init. */
  principal?: Principal;
  /** Gives back the key's connection slot. */
  releaseKeySlot?: () => void;
}

/** The root value of every operation, so that the subscribe step knows the socket and the id. */
interface OperationRoot {
  execute: (args: ExecutionArgs) => unknown;
  subscribe: (args: ExecutionArgs) => unknown;
  id: string;
  socket: WebSocket;
  requestId: string;
}

/** Room left for a close reason in a WebSocket close frame (125 bytes minus the code). */
const MAX_CLOSE_REASON = 123;

// Close codes of graphql-ws servers: 4401 for a missing or unknown key (as graphql-ws closes an
// unauthorised subscribe), 4403 when the key was removed while the socket was open (as it closes
// a refused connection_init); a key over its connection bound gets 1013, try again later.
const CLOSE_UNAUTHENTICATED = 4401;
const CLOSE_FORBIDDEN = 4403;
const CLOSE_TRY_LATER = 1013;

/** A close reason cut to fit the close frame, on a character boundary. */
function fitted(reason: string): string {
  let text = reason;
  while (Buffer.byteLength(text) > MAX_CLOSE_REASON) text = text.slice(0, -2);
  return text;
}

/** A close reason: the error's code and message, cut to fit the frame. */
function closeReason(code: string, message: string): string {
  return fitted(`${code}: ${message}`);
}

/**
 * A socket's close, with its reason cut to fit. graphql-ws quotes ids the client chose in some
 * reasons ("Subscriber for <id> already exists"); ws throws on a reason over 123 bytes, and the
 * client would get 4500 (internal error) instead of the code meant for it. One function for every
 * socket, set on each: no closure per connection.
 */
function closeFitted(this: WebSocket, code?: number, reason?: string | Buffer): void {
  WebSocket.prototype.close.call(this, code, typeof reason === 'string' ? fitted(reason) : reason);
}

export function createGraphQLWebSocket(options: GraphQLWebSocketOptions): GraphQLWebSocket {
  const { yoga, live, delivery, log, access } = options;
  const path = options.path ?? '/graphql';
  const sockets = new WeakMap<WebSocket, SocketState>();
  let isClosing = false;

  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayloadBytes ?? 1024 * 1024 });

  const report = (requestId: string) => (error: unknown) =>
    log.error({ err: error, requestId }, 'unexpected error in a WebSocket operation');

  const server = useServer<Record<string, unknown>>(
    {
      onConnect: (ctx) => {
        const { socket } = ctx.extra;
        const state = sockets.get(socket);
        if (!access || !state) return Boolean(state);
        try {
          state.principal = access.authenticateConnection(ctx.connectionParams);
        } catch (error) {
          socket.close(CLOSE_UNAUTHENTICATED, closeReason('UNAUTHENTICATED', (error as Error).message));
          return false;
        }
        try {
          state.releaseKeySlot = access.holdConnection(state.principal, () =>
            socket.close(CLOSE_FORBIDDEN, closeReason('FORBIDDEN', 'the API key was removed')),
          );
        } catch (error) {
          socket.close(CLOSE_TRY_LATER, closeReason('LIMIT_EXCEEDED', (error as Error).message));
          return false;
        }
        return true;
      },
      onSubscribe: async (ctx, id, payload) => {
        // Short and flat: an operation holds its id as long as it runs.
        const requestId = randomBytes(9).toString('base64url');
        const { socket, request } = ctx.extra;
        const enveloped = yoga.getEnveloped({
          req: request,
          socket,
          params: payload,
          connectionParams: ctx.connectionParams,
          liveConnection: sockets.get(socket)?.slot,
          principal: sockets.get(socket)?.principal,
          requestId,
        });
        try {
          const document = enveloped.parse(payload.query);
          const errors = enveloped.validate(enveloped.schema, document);
          if (errors.length > 0) return errors;
          const root: OperationRoot = {
            execute: enveloped.execute,
            subscribe: enveloped.subscribe,
            id,
            socket,
            requestId,
          };
          return {
            schema: enveloped.schema,
            document,
            operationName: payload.operationName,
            variableValues: payload.variables,
            contextValue: await enveloped.contextFactory(),
            rootValue: root,
          };
        } catch (error) {
          // Yoga gives a syntax error its code only for HTTP requests.
          if (error instanceof GraphQLError && error.extensions.code === undefined) {
            const { source, positions } = error;
            return [
              new GraphQLError(error.message, { source, positions, extensions: { code: 'GRAPHQL_PARSE_FAILED' } }),
            ];
          }
          return [toClientError(error, requestId, report(requestId))];
        }
      },
      execute: (args) => {
        const root = args.rootValue as OperationRoot;
        return root.execute(args) as OperationResult;
      },
      subscribe: async (args) => {
        const root = args.rootValue as OperationRoot;
        const result = await root.subscribe(args);
        const handoff = delivery.take(args.contextValue);
        const state = sockets.get(root.socket);
        if (!handoff) return result as Awaited<OperationResult>;
        if (!state) {
          handoff.subscription.end();
          return { errors: [new GraphQLError('the connection is closing')] };
        }
        const { id, socket, requestId } = root;
        // graphql-ws keeps these arguments while the subscription runs, for its onNext hook (unused
        // here): let go of the operation's context and envelope, which thousands of idle
        // subscriptions would otherwise each hold.
        Object.assign(args, { contextValue: undefined, rootValue: undefined });
        return writeToSocket(handoff, id, socket, state.raw, (error) =>
          toClientError(error, requestId, report(requestId)),
        );
      },
    },
    wss,
    options.keepAliveMs ?? 12_000,
  );

  function refuse(req: IncomingMessage, socket: Duplex, head: Buffer, reason: string): void {
    // Accepted, then closed with 1013 (try again later): the client sees the reason, not a bare 503.
    wss.handleUpgrade(req, socket, head, (ws) => ws.close(1013, reason.slice(0, MAX_CLOSE_REASON)));
  }

  return {
    handleUpgrade(req, socket, head) {
      if ((req.url ?? '/').split('?', 1)[0] !== path) return false;
      if (options.origins && !options.origins.allowsUpgrade(req.headers)) {
        // Refused before the handshake: a page of an origin not listed gets no socket at all.
        socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return true;
      }
      if (isClosing) {
        refuse(req, socket, head, 'Pulse is shutting down');
        return true;
      }
      let slot: LiveConnection;
      try {
        slot = live.connect();
      } catch (error) {
        refuse(req, socket, head, (error as Error).message);
        return true;
      }
      // The slot is freed when the TCP socket closes, also when the handshake fails.
      socket.once('close', () => slot.release());
      wss.handleUpgrade(req, socket, head, (ws) => {
        const state: SocketState = { raw: socket, slot };
        sockets.set(ws, state);
        ws.close = closeFitted;
        ws.once('close', () => state.releaseKeySlot?.());
        wss.emit('connection', ws, req);
        // graphql-ws prints a socket's errors to the console, stack and all. They are the client's
        // (a frame over the size bound, an unmasked frame, bad UTF-8), and ws has already closed
        // the socket with the matching code (1009, 1002, 1007): a debug line is enough.
        ws.removeAllListeners('error');
        ws.on('error', (err) => log.debug({ err }, 'a WebSocket client broke the protocol'));
      });
      return true;
    },
    connections: () => wss.clients.size,
    async close() {
      isClosing = true;
      // Completions of ended subscriptions are sent by graphql-ws a few microtasks after they end.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      const clients = [...wss.clients];
      const closed = Promise.all(
        clients.map(
          (ws) =>
            new Promise<void>((resolve) =>
              ws.readyState === ws.CLOSED ? resolve() : ws.once('close', () => resolve()),
            ),
        ),
      );
      for (const ws of clients) ws.close(1001, 'Pulse is shutting down');
      const timer = setTimeout(() => {
        for (const ws of clients) ws.terminate();
      }, 2000);
      await closed;
      clearTimeout(timer);
      await server.dispose();
    },
  };
}
