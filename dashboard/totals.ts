import { el, formatAgo, formatCount, typeColour } from './format.js';

export interface TypeStats {
  type: string;
  count: number;
  uniqueUsers: number;
  lastSeenAt: string | null;
}

/** Totals per event type: refreshed from the read model, counted up live in between. */
export function createTotals(body: HTMLTableSectionElement, onTypes: (types: string[]) => void) {
  const stats = new Map<string, TypeStats>();

  function render(): void {
    const sorted = [...stats.values()].sort((a, b) => b.count - a.count);
    body.replaceChildren(
      ...sorted.map((s) => {
        const badge = el('span', { className: 'type-badge', text: s.type });
        badge.style.borderColor = typeColour(s.type);
        const row = el('tr', {}, [
          el('th', { className: 'type-cell' }, [badge]),
          el('td', { text: formatCount(s.count) }),
          el('td', { text: formatCount(s.uniqueUsers) }),
          el('td', { text: formatAgo(s.lastSeenAt), title: s.lastSeenAt ?? '' }),
        ]);
        row.children[0].setAttribute('scope', 'row');
        row.dataset.type = s.type;
        return row;
      }),
    );
    onTypes(sorted.map((s) => s.type));
  }

  return {
    /** Replaces everything with the read model's answer. */
    reset(all: readonly TypeStats[]): void {
      stats.clear();
      for (const s of all) stats.set(s.type, { ...s });
      render();
    },
    /** Counts one live event that the read model may not hold yet. */
    count(type: string, receivedAt: string): void {
      const s = stats.get(type) ?? { type, count: 0, uniqueUsers: 0, lastSeenAt: null };
      s.count++;
      if (!s.lastSeenAt || receivedAt > s.lastSeenAt) s.lastSeenAt = receivedAt;
      stats.set(type, s);
    },
    render,
  };
}
