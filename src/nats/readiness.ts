import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsLink } from './connection.js';

export interface Readiness {
  ready: boolean;
  nats: string;
  stream: 'ok' | 'unavailable' | 'unknown';
  detail?: string;
}

/**
 * Answers "can Pulse take events now?": NATS connected and the stream answering its info request.
 * A check made in the last maxAgeMs is reused, so that probes do not load JetStream's API.
 */
export function createReadinessCheck(link: NatsLink, jsm: JetStreamManager, stream: string, maxAgeMs = 1000) {
  let last: { at: number; result: Readiness } | undefined;
  let running: Promise<Readiness> | undefined;

  async function probe(): Promise<Readiness> {
    const nats = link.state();
    if (!link.isConnected()) return { ready: false, nats, stream: 'unknown', detail: 'NATS is not connected' };
    try {
      await jsm.streams.info(stream);
      return { ready: true, nats, stream: 'ok' };
    } catch (err) {
      return { ready: false, nats, stream: 'unavailable', detail: (err as Error).message };
    }
  }

  return async function check(): Promise<Readiness> {
    if (!link.isConnected()) return probe();
    if (last && Date.now() - last.at < maxAgeMs) return last.result;
    running ??= probe().then((result) => {
      last = { at: Date.now(), result };
      running = undefined;
      return result;
    });
    return running;
  };
}
