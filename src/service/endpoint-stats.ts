import type { Endpoint } from '@nats-io/services';

/** Pulse's own account of one endpoint's requests, from arrival to reply. */
export interface EndpointTally {
  /** Counts a request in; the function it returns counts it out once it was answered. */
  begin(): () => void;
  /** Counts an answer that carried the error headers. */
  fail(code: string, description: string): void;
  /** The figures so far; processingNs runs from arrival to reply. */
  snapshot(): {
    completed: number;
    inFlight: number;
    errors: number;
    lastError: string | undefined;
    processingNs: number;
    errorsByCode: Record<string, number>;
  };
}

export function createEndpointTally(): EndpointTally {
  let completed = 0;
  let inFlight = 0;
  let errors = 0;
  let lastError: string | undefined;
  let processingNs = 0;
  const errorsByCode: Record<string, number> = {};
  return {
    begin() {
      const start = process.hrtime.bigint();
      inFlight++;
      return () => {
        inFlight--;
        completed++;
        processingNs += Number(process.hrtime.bigint() - start);
      };
    },
    fail(code, description) {
      errors++;
      lastError = `${code}: ${description}`;
      errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
    },
    snapshot: () => ({ completed, inFlight, errors, lastError, processingNs, errorsByCode: { ...errorsByCode } }),
  };
}

interface FrameworkStats {
  num_errors: number;
  last_error?: string;
  processing_time: number;
  average_processing_time: number;
}

function frameworkStatsOf(endpoint: Endpoint): FrameworkStats | undefined {
  const stats = (endpoint as Endpoint & { stats?: unknown }).stats;
  if (stats === null || typeof stats !== 'object') return undefined;
  const candidate = stats as Partial<FrameworkStats>;
  return typeof candidate.num_errors === 'number' && typeof candidate.processing_time === 'number'
    ? (candidate as FrameworkStats)
    : undefined;
}

/**
 * The service's statsHandler. The framework times only the synchronous part of a handler and
 * counts only errors a handler throws; Pulse's handlers answer later and reply to errors with
 * the error headers. So the standard fields (num_errors, last_error, processing_time,
 * average_processing_time) are filled from Pulse's own tally when stats are asked for, on the
 * endpoint object the framework hands to this handler; `data` adds in_flight and errors by code.
 */
export function reportTallies(tallies: ReadonlyMap<string, EndpointTally>) {
  return async (endpoint: Endpoint): Promise<unknown> => {
    const tally = endpoint.subject === undefined ? undefined : tallies.get(endpoint.subject);
    if (!tally) return null;
    const now = tally.snapshot();
    const stats = frameworkStatsOf(endpoint);
    if (stats) {
      stats.num_errors = now.errors;
      stats.last_error = now.lastError;
      stats.processing_time = now.processingNs;
      stats.average_processing_time = now.completed > 0 ? Math.round(now.processingNs / now.completed) : 0;
    }
    return { in_flight: now.inFlight, errors_by_code: now.errorsByCode };
  };
}
