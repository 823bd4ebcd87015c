import type { IncomingHttpHeaders } from 'node:http';

/** What Yoga's `cors` option answers for a request: headers for one origin, or none. */
export type CorsAnswer =
  | false
  | {
      origin: string[];
      methods: string[];
      allowedHeaders: string[];
      exposedHeaders: string[];
      credentials: boolean;
      maxAge: number;
    };

/** Which browser origins may use Pulse: one list for CORS and for WebSocket upgrades. */
export interface OriginPolicy {
  /** Whether a cross-origin page at `origin` may call Pulse. */
  allowsCrossOrigin(origin: string): boolean;
  /**
   * Whether a WebSocket upgrade may go on: no Origin (not a browser), the same origin (its host
   * is the Host header), or an origin on the list.
   */
  allowsUpgrade(headers: IncomingHttpHeaders): boolean;
  /** Yoga's `cors` option: CORS headers for listed origins only. */
  cors(request: Request): CorsAnswer;
}

/** Headers a cross-origin page may send and read. */
const ALLOWED_HEADERS = [
  'authorization',
  'content-type',
  'accept',
  'x-request-id',
  'x-graphql-yoga-csrf',
  'last-event-id',
];
const EXPOSED_HEADERS = ['x-request-id', 'retry-after'];

function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host.toLowerCase();
  } catch {
    return undefined;
  }
}

/** `origins` as PULSE_CORS_ORIGINS gives them: exact origins (scheme://host[:port]), or `*` for any. */
export function createOriginPolicy(origins: readonly string[]): OriginPolicy {
  const anyOrigin = origins.includes('*');
  const listed = new Set(origins.map((origin) => origin.toLowerCase().replace(/\/$/, '')));
  const allowsCrossOrigin = (origin: string) => anyOrigin || listed.has(origin.toLowerCase());
  return {
    allowsCrossOrigin,
    allowsUpgrade(headers) {
      const origin = headers.origin;
      if (origin === undefined) return true;
      const host = headers.host?.toLowerCase();
      return (host !== undefined && hostOf(origin) === host) || allowsCrossOrigin(origin);
    },
    cors(request) {
      const origin = request.headers.get('origin');
      // Without CORS headers a browser keeps the answer from a page of another origin.
      if (!origin || !allowsCrossOrigin(origin)) return false;
      return {
        origin: [origin],
        methods: ['GET', 'POST', 'OPTIONS'],
        allowedHeaders: ALLOWED_HEADERS,
        exposedHeaders: EXPOSED_HEADERS,
        // Keys travel in the Authorization header, never in cookies.
        credentials: false,
        maxAge: 600,
      };
    },
  };
}
