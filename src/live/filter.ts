import type { StoredEvent } from '../events/index.js';
import type { EventSubjects } from '../nats/index.js';
import { InvalidLiveRequest } from './errors.js';

/** Which events a subscriber wants, as a client gives it: every field given must match. */
export interface EventFilterInput {
  types?: readonly string[] | null;
  userId?: string | null;
  anonymousId?: string | null;
}

/** A checked filter. */
export interface EventFilter {
  /** Undefined: every type. */
  readonly types: ReadonlySet<string> | undefined;
  readonly userId: string | undefined;
  readonly anonymousId: string | undefined;
}

const MAX_TYPES = 100;

export function toEventFilter(input: EventFilterInput | null | undefined): EventFilter {
  // An empty list restricts nothing, as in recentEvents.
  const types = input?.types && input.types.length > 0 ? input.types : undefined;
  if (types && types.length > MAX_TYPES) throw new InvalidLiveRequest('filter.types', `at most ${MAX_TYPES} types`);
  return {
    types: types ? new Set(types) : undefined,
    userId: input?.userId ?? undefined,
    anonymousId: input?.anonymousId ?? undefined,
  };
}

export function matchesFilter(filter: EventFilter, event: StoredEvent): boolean {
  return (
    (filter.types === undefined || filter.types.has(event.type)) &&
    (filter.userId === undefined || filter.userId === event.userId) &&
    (filter.anonymousId === undefined || filter.anonymousId === event.anonymousId)
  );
}

/**
 * The one subject a consumer for this filter may use. nats-server 2.9 consumers take a single
 * filter subject, so the server narrows by type only when one type is asked for; the rest is
 * filtered here.
 */
export function filterSubject(filter: EventFilter, subjects: EventSubjects): string {
  if (filter.types?.size === 1) return subjects.forType(filter.types.values().next().value as string);
  return subjects.all;
}
