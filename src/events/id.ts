import { monotonicFactory } from 'ulid';

// ULIDs sort by creation time and stay unique within a millisecond (monotonic), so generated ids
// are sortable and collision-free across processes.
const nextUlid = monotonicFactory();

/** A new event id. */
export function newEventId(): string {
  return nextUlid();
}
