import { query } from './api.js';
import { el, formatAgo, formatCount, formatNumber, formatTime, typeColour } from './format.js';

const USER_QUERY = `query DashboardUser($id: ID!) {
  user(id: $id) {
    id firstSeenAt lastSeenAt eventCount revenue
    countsByType { type count }
    recentEvents(last: 20) { id type occurredAt properties }
  }
}`;

interface UserProfile {
  id: string;
  firstSeenAt: string;
  lastSeenAt: string;
  eventCount: number;
  revenue: number;
  countsByType: Array<{ type: string; count: number }>;
  recentEvents: Array<{ id: string; type: string; occurredAt: string; properties: Record<string, unknown> }>;
}

/** The user lookup form: a profile and its recent events from the read model. */
export function createLookup(
  form: HTMLFormElement,
  input: HTMLInputElement,
  result: HTMLElement,
  onError: (err: unknown) => void,
) {
  async function show(id: string): Promise<void> {
    result.replaceChildren(el('p', { className: 'muted', text: 'Looking up…' }));
    try {
      const { user } = await query<{ user: UserProfile | null }>(USER_QUERY, { id });
      if (!user) {
        result.replaceChildren(el('p', { className: 'muted', text: `No user "${id}" yet.` }));
        return;
      }
      const facts = el('dl', { className: 'facts' }, [
        el('dt', { text: 'Events' }),
        el('dd', { text: formatCount(user.eventCount) }),
        el('dt', { text: 'Revenue' }),
        el('dd', { text: formatNumber(user.revenue) }),
        el('dt', { text: 'First seen' }),
        el('dd', { text: formatAgo(user.firstSeenAt), title: user.firstSeenAt }),
        el('dt', { text: 'Last seen' }),
        el('dd', { text: formatAgo(user.lastSeenAt), title: user.lastSeenAt }),
      ]);
      const byType = el(
        'ul',
        { className: 'chips' },
        user.countsByType.map((c) => {
          const chip = el('li', { className: 'type-badge', text: `${c.type} ${formatCount(c.count)}` });
          chip.style.borderColor = typeColour(c.type);
          return chip;
        }),
      );
      const recent = el(
        'ol',
        { className: 'user-events' },
        user.recentEvents.map((e) =>
          el('li', {}, [
            el('time', { text: formatTime(e.occurredAt), title: e.occurredAt }),
            el('span', { className: 'type-name', text: e.type }),
            el('code', { text: JSON.stringify(e.properties) }),
          ]),
        ),
      );
      result.replaceChildren(el('h3', { text: user.id }), facts, byType, el('h4', { text: 'Recent events' }), recent);
    } catch (err) {
      result.replaceChildren(el('p', { className: 'error', text: (err as Error).message }));
      onError(err);
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const id = input.value.trim();
    if (id) void show(id);
  });
  return { show };
}
