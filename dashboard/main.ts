import 'uplot/dist/uPlot.min.css';
import './styles.css';
import {
  AuthRequired,
  onConnectionState,
  query,
  resetConnection,
  type Subscription,
  storedKey,
  storeKey,
  subscribe,
} from './api.js';
import { createLookup } from './lookup.js';
import { createRateChart } from './rate-chart.js';
import { createSystemPanel, type ProjectionState, type SystemState } from './system.js';
import { createTail, type TailEvent } from './tail.js';
import { createTotals, type TypeStats } from './totals.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const EVENT_FIELDS = 'id type userId anonymousId properties occurredAt receivedAt cursor';
const EVENTS_SUBSCRIPTION = `subscription DashboardEvents($after: String, $since: DateTime) {
  events(after: $after, since: $since) { ${EVENT_FIELDS} }
}`;

const chart = createRateChart($('chart'));
const tail = createTail($('tail-list'), $('tail-pause'), $('tail-held'));
const tailType = $<HTMLSelectElement>('tail-type');
const totals = createTotals($('totals-body'), (types) => {
  const current = tailType.value;
  const options = ['', ...types].map((type) => {
    const option = document.createElement('option');
    option.value = type;
    option.textContent = type || 'all types';
    return option;
  });
  if (options.length !== tailType.options.length || types.some((t, i) => tailType.options[i + 1]?.value !== t)) {
    tailType.replaceChildren(...options);
    tailType.value = current;
  }
});
const system = createSystemPanel($('system'));
const status = $('status');

// Every event the tail has shown, so that a resumed subscription can never show one twice.
const seen = new Set<string>();
let lastCursor: string | undefined;
let startedAt = new Date().toISOString();
let live: Subscription | undefined;
let timers: number[] = [];

function showStatus(state: 'connecting' | 'live' | 'offline'): void {
  status.dataset.state = state;
  status.textContent = state === 'live' ? 'live' : state === 'connecting' ? 'reconnecting…' : 'disconnected — retrying';
}
onConnectionState(showStatus);

function onEvent(event: TailEvent): void {
  if (seen.has(event.id)) return;
  seen.add(event.id);
  if (seen.size > 50_000) seen.clear();
  lastCursor = event.cursor;
  chart.addEvent(event.type, event.receivedAt);
  totals.count(event.type, event.receivedAt);
  if (!tailType.value || tailType.value === event.type) tail.add([event]);
}

/** Fills the tail with the newest events from the read model; answers the newest cursor. */
async function loadTail(): Promise<string | undefined> {
  const filter = tailType.value ? { types: [tailType.value] } : null;
  const { recentEvents } = await query<{ recentEvents: TailEvent[] }>(
    `query DashboardRecent($filter: EventFilter) { recentEvents(filter: $filter, last: 50) { ${EVENT_FIELDS} } }`,
    { filter },
  );
  tail.clear();
  const oldestFirst = [...recentEvents].reverse();
  for (const event of oldestFirst) seen.add(event.id);
  tail.add(oldestFirst);
  return recentEvents[0]?.cursor;
}

async function loadHistory(): Promise<void> {
  const now = Date.now();
  const from = new Date(now - 15 * 60_000).toISOString();
  const { eventCounts } = await query<{
    eventCounts: Array<{ type: string; buckets: Array<{ start: string; count: number }> }>;
  }>(
    'query DashboardHistory($from: DateTime!) { eventCounts(from: $from, interval: MINUTE) { type buckets { start count } } }',
    { from },
  );
  for (const series of eventCounts)
    for (const b of series.buckets) chart.addHistory(series.type, b.start, b.count, now);
}

async function refreshTotals(): Promise<void> {
  const { eventTypes } = await query<{ eventTypes: TypeStats[] }>(
    '{ eventTypes { type count uniqueUsers lastSeenAt } }',
  );
  totals.reset(eventTypes);
  totals.render();
}

async function refreshSystem(): Promise<void> {
  try {
    const data = await query<{ system: SystemState; projections: ProjectionState[] }>(
      '{ system { nats { connected state } stream { messages bytes } subscribers } projections { name lag } }',
    );
    system.show(data.system, data.projections);
  } catch (err) {
    if (err instanceof AuthRequired) throw err;
    system.unavailable();
  }
}

function askForKey(error: AuthRequired): void {
  stop();
  const dialog = $<HTMLDialogElement>('key-dialog');
  $('key-error').textContent = error.code === 'FORBIDDEN' ? 'That key cannot read. Use a key with the read scope.' : '';
  if (!dialog.open) dialog.showModal();
}

function stop(): void {
  live?.stop();
  live = undefined;
  for (const timer of timers) clearInterval(timer);
  timers = [];
}

function guarded(task: () => Promise<void>): () => void {
  return () => {
    task().catch((err: unknown) => {
      if (err instanceof AuthRequired) askForKey(err);
    });
  };
}

async function start(): Promise<void> {
  stop();
  startedAt = new Date().toISOString();
  try {
    const [, , newest] = await Promise.all([loadHistory(), refreshTotals(), loadTail(), refreshSystem()]);
    // Live events continue right after the newest one shown; a restart keeps the cursor it reached.
    if (!lastCursor && !tailType.value) lastCursor = newest;
  } catch (err) {
    if (err instanceof AuthRequired) return askForKey(err);
  }
  chart.render();
  live = subscribe<{ events: TailEvent }>(
    EVENTS_SUBSCRIPTION,
    () => (lastCursor ? { after: lastCursor } : { since: startedAt }),
    { next: (data) => onEvent(data.events), denied: askForKey },
  );
  timers.push(
    window.setInterval(() => chart.render(), 1000),
    window.setInterval(() => totals.render(), 1000),
    window.setInterval(guarded(refreshTotals), 5000),
    window.setInterval(guarded(refreshSystem), 2000),
  );
}

$<HTMLFormElement>('key-form').addEventListener('submit', () => {
  storeKey($<HTMLInputElement>('key-input').value.trim() || undefined);
  resetConnection();
  void start();
});
tailType.addEventListener(
  'change',
  guarded(async () => void (await loadTail())),
);
createLookup($('lookup-form'), $('lookup-id'), $('lookup-result'), (err) => {
  if (err instanceof AuthRequired) askForKey(err);
});
if (storedKey()) $<HTMLInputElement>('key-input').value = storedKey() ?? '';
showStatus('connecting');
void start();
