import { formatBytes, formatCount } from './format.js';

export interface SystemState {
  nats: { connected: boolean; state: string };
  stream: { messages: number; bytes: number };
  subscribers: number;
}

export interface ProjectionState {
  name: string;
  lag: number;
}

/** The system panel: stream size, projector lag, live subscribers, NATS connection state. */
export function createSystemPanel(root: HTMLElement) {
  const field = (name: string) => root.querySelector<HTMLElement>(`[data-field="${name}"]`) as HTMLElement;
  return {
    show(system: SystemState, projections: readonly ProjectionState[]): void {
      field('nats').textContent = system.nats.connected ? 'connected' : system.nats.state;
      field('nats').className = system.nats.connected ? 'ok' : 'bad';
      field('messages').textContent = formatCount(system.stream.messages);
      field('bytes').textContent = formatBytes(system.stream.bytes);
      field('subscribers').textContent = formatCount(system.subscribers);
      const lag = projections.reduce((max, p) => Math.max(max, p.lag), 0);
      field('lag').textContent = projections.length ? `${formatCount(lag)} events` : '—';
      field('lag').className = lag > 1000 ? 'bad' : 'ok';
    },
    unavailable(): void {
      field('nats').textContent = 'unknown';
      field('nats').className = 'bad';
    },
  };
}
