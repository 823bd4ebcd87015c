import { el, formatTime, typeColour } from './format.js';

export interface TailEvent {
  id: string;
  type: string;
  userId: string | null;
  anonymousId: string | null;
  properties: Record<string, unknown>;
  occurredAt: string;
  receivedAt: string;
  cursor: string;
}

const MAX_ROWS = 100;

/** The live tail: newest first, at most 100 rows; paused, it keeps counting what it holds back. */
export function createTail(list: HTMLOListElement, pauseButton: HTMLButtonElement, held: HTMLElement) {
  const rows: TailEvent[] = [];
  let paused = false;
  let heldBack = 0;

  function row(event: TailEvent): HTMLLIElement {
    const who = event.userId ?? event.anonymousId ?? '';
    const props = JSON.stringify(event.properties);
    const item = el('li', { className: 'tail-row' }, [
      el('time', { text: formatTime(event.receivedAt), title: event.receivedAt }),
      el('span', { className: 'type-badge', text: event.type }),
      el('span', { className: 'who', text: who, title: event.userId ? 'userId' : 'anonymousId' }),
      el('code', { className: 'props', text: props.length > 120 ? `${props.slice(0, 117)}…` : props }),
    ]);
    item.dataset.id = event.id;
    (item.children[1] as HTMLElement).style.borderColor = typeColour(event.type);
    return item;
  }

  function render(): void {
    list.replaceChildren(...rows.map(row));
    held.textContent = paused && heldBack > 0 ? `${heldBack} new while paused` : '';
  }

  pauseButton.addEventListener('click', () => {
    paused = !paused;
    pauseButton.setAttribute('aria-pressed', String(paused));
    pauseButton.textContent = paused ? 'Resume' : 'Pause';
    if (!paused) heldBack = 0;
    render();
  });

  return {
    /** Adds events (oldest first) to the top of the tail. */
    add(events: readonly TailEvent[]): void {
      for (const event of events) rows.unshift(event);
      rows.length = Math.min(rows.length, MAX_ROWS);
      if (paused) {
        heldBack += events.length;
        held.textContent = `${heldBack} new while paused`;
      } else {
        render();
      }
    },
    clear(): void {
      rows.length = 0;
      heldBack = 0;
      render();
    },
  };
}
