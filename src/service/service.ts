import { createRequire } from 'node:module';
import { type ServiceMsg, Svcm } from '@nats-io/services';
import { Match, type MsgHdrs, type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node';
import type { EventLimits } from '../events/index.js';
import type { Tracker } from '../ingest/index.js';
import { type Logger, requestIdFrom } from '../log/index.js';
import { type Authorize, allowEveryone, type Scope } from './authorize.js';
import { createEndpointTally, type EndpointTally, reportTallies } from './endpoint-stats.js';
import { type ErrorReply, toErrorReply } from './errors.js';
import { executeGraphQL, type GraphQLFetch } from './graphql-request.js';
import { trackBatchReply, trackReply } from './track-reply.js';
import { parseTrackBatchRequest, parseTrackRequest } from './track-request.js';

/** The name every Pulse process registers under, so that `$SRV.*.pulse` finds them all. */
export const SERVICE_NAME = 'pulse';
/** The reply header naming the process (its service instance id) that answered. */
export const INSTANCE_HEADER = 'Pulse-Instance';
/** The request id header: taken from the request when valid, else made up, and sent back. */
export const REQUEST_ID_HEADER = 'X-Request-Id';

// @nats-io/services 3.0.0-25 is built on @nats-io/nats-core 3.0.0-50, whose types differ from the
// 3.4 the rest of Pulse uses in how they spell header match modes (an enum then, strings now). At
// run time the framework only subscribes, responds, drains and sets headers, which both versions
// share. So the connection and the headers cross between the two with a cast here, nowhere else.
type FrameworkConnection = ConstructorParameters<typeof Svcm>[0];
type FrameworkHeaders = NonNullable<Parameters<ServiceMsg['respond']>[1]>['headers'];

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

export interface PulseServiceOptions {
  nc: NatsConnection;
  tracker: Tracker;
  /** Executes GraphQL over HTTP for pulse.graphql: the Yoga instance's fetch. */
  fetchGraphQL: GraphQLFetch;
  /** The event limits the tracker applies; used to report every problem of a malformed request at once. */
  limits: EventLimits & { maxBatch: number };
  log: Logger;
  /** The first token(s) of every endpoint subject. Default "pulse". */
  subjectPrefix?: string;
  /** The API key check of track and trackBatch; pulse.graphql passes the header on to GraphQL. Default: open. */
  authorize?: Authorize;
  /** Shown in $SRV.INFO and $SRV.PING, e.g. the stream name. Default none. */
  metadata?: Record<string, string>;
  /** How long stop() waits for requests in flight to be answered. Default 10000. */
  stopGraceMs?: number;
}

/** Pulse's NATS service in this process: one instance of the `pulse` service. */
export interface PulseService {
  /** This instance's id, as $SRV.PING/INFO/STATS and the Pulse-Instance reply header show it. */
  readonly id: string;
  /** The endpoint subjects, e.g. pulse.track. */
  readonly subjects: { track: string; trackBatch: string; graphql: string };
  /**
   * Leaves the queue group (the subscriptions drain: requests already delivered are still
   * handled), then waits up to stopGraceMs for the replies in flight.
   */
  stop(): Promise<void>;
}

interface Answer {
  body: string;
  failure?: Omit<ErrorReply, 'body'>;
}

type Handle = (msg: ServiceMsg, requestId: string, authorization: string | undefined) => Promise<Answer>;

function headerOf(msg: ServiceMsg, name: string): string | undefined {
  return (msg.headers as unknown as MsgHdrs | undefined)?.get(name, Match.IgnoreCase) || undefined;
}

/**
 * Registers the `pulse` service with the NATS services framework and starts answering
 * `<prefix>.track`, `<prefix>.trackBatch` and `<prefix>.graphql` in the queue group `pulse`, so
 * that requests spread over every running Pulse process.
 */
export async function startPulseService(options: PulseServiceOptions): Promise<PulseService> {
  const { nc, tracker, fetchGraphQL, limits, log } = options;
  const prefix = options.subjectPrefix ?? 'pulse';
  const authorize = options.authorize ?? allowEveryone;
  const subjects = { track: `${prefix}.track`, trackBatch: `${prefix}.trackBatch`, graphql: `${prefix}.graphql` };
  const tallies = new Map<string, EndpointTally>(Object.values(subjects).map((s) => [s, createEndpointTally()]));
  const inFlight = new Set<Promise<void>>();

  const service = await new Svcm(nc as unknown as FrameworkConnection).add({
    name: SERVICE_NAME,
    version,
    description: 'Pulse event analytics: track, trackBatch and GraphQL over NATS request-reply',
    queue: SERVICE_NAME,
    metadata: { ...options.metadata, subject_prefix: prefix },
    statsHandler: reportTallies(tallies),
  });
  const id = service.info().id;

  // One check per request, once the body says how many events it holds (they are charged to the
  // key's rate); a body that cannot be read is refused for a missing or wrong key first.
  const authorized = <A>(
    scope: Scope,
    parse: (data: Uint8Array) => A,
    events: (args: A) => number,
    run: (args: A) => Promise<string>,
  ): Handle => {
    return async (msg, _requestId, authorization) => {
      let args: A;
      try {
        args = parse(msg.data);
      } catch (err) {
        await authorize(authorization, scope);
        throw err;
      }
      await authorize(authorization, scope, events(args));
      return { body: await run(args) };
    };
  };

  const handlers: Record<keyof typeof subjects, Handle> = {
    track: authorized(
      'ingest',
      (data) => parseTrackRequest(data, limits),
      () => 1,
      async (args) => trackReply(await tracker.track(args.event, { sentAt: args.sentAt })),
    ),
    trackBatch: authorized(
      'ingest',
      (data) => parseTrackBatchRequest(data, limits),
      (args) => args.events.length,
      async (args) => {
        const result = await tracker.trackBatch(args.events, { sentAt: args.sentAt });
        // Room for the reply headers under the server's limit (1 MB unless configured otherwise).
        return trackBatchReply(result, (nc.info?.max_payload ?? 1_048_576) - 4096);
      },
    ),
    graphql: (msg, requestId, authorization) => executeGraphQL(fetchGraphQL, msg.data, { requestId, authorization }),
  };

  async function answer(msg: ServiceMsg, subject: string, handle: Handle): Promise<void> {
    const tally = tallies.get(subject) as EndpointTally;
    const done = tally.begin();
    const requestId = requestIdFrom(headerOf(msg, REQUEST_ID_HEADER));
    const ownHeaders: MsgHdrs = natsHeaders();
    ownHeaders.set(INSTANCE_HEADER, id);
    ownHeaders.set(REQUEST_ID_HEADER, requestId);
    const replyHeaders = ownHeaders as unknown as FrameworkHeaders;
    let result: Answer;
    try {
      result = await handle(msg, requestId, headerOf(msg, 'Authorization'));
    } catch (err) {
      const reply = toErrorReply(err, requestId, (unexpected) =>
        log.error({ err: unexpected, subject, requestId }, 'unexpected error'),
      );
      const { body, ...failure } = reply;
      result = { body, failure };
    }
    try {
      if (result.failure) {
        tally.fail(result.failure.code, result.failure.description);
        msg.respondError(result.failure.status, result.failure.description, result.body, { headers: replyHeaders });
      } else {
        msg.respond(result.body, { headers: replyHeaders });
      }
    } catch (err) {
      log.warn({ err, subject, requestId }, 'could not answer a request');
    }
    done();
  }

  for (const [name, subject] of Object.entries(subjects) as Array<[keyof typeof subjects, string]>) {
    const handle = handlers[name];
    service.addEndpoint(name, {
      subject,
      handler: (err, msg) => {
        if (err) {
          log.error({ err, subject }, 'the NATS service endpoint failed');
          return;
        }
        const answering = answer(msg, subject, handle);
        const settle = () => inFlight.delete(answering);
        inFlight.add(answering);
        answering.then(settle, settle);
      },
    });
  }

  // The server has the subscriptions once it answered a ping: from here on, requests find us.
  await nc.flush();
  void service.stopped.then((err) => {
    if (err) log.error({ err }, 'the NATS service stopped');
  });
  log.info({ id, subjects: Object.values(subjects), queue: SERVICE_NAME }, 'NATS service pulse is answering');

  return {
    id,
    subjects,
    async stop() {
      await service.stop();
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, options.stopGraceMs ?? 10_000);
      });
      await Promise.race([Promise.allSettled([...inFlight]), graceOver]);
      clearTimeout(timer);
    },
  };
}
