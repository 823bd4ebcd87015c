// Simulated visitors of a small web shop: each arrives anonymously, browses, clicks, sometimes signs
// up or logs in, adds to cart and buys. Proportions follow a typical e-commerce funnel: most events
// are page views and clicks, about one session in ten buys something.

export interface DemoEvent {
  id: string;
  type: string;
  userId?: string;
  anonymousId: string;
  properties: Record<string, unknown>;
  occurredAt: string;
}

const PAGES = ['/', '/pricing', '/products', '/products/lamp', '/products/chair', '/products/desk', '/blog', '/about'];
const BUTTONS = ['buy', 'add_to_cart', 'learn_more', 'subscribe', 'play_video', 'share'];
const PRODUCTS = [
  { sku: 'lamp', price: 39.9 },
  { sku: 'chair', price: 149 },
  { sku: 'desk', price: 329 },
  { sku: 'plant', price: 19.5 },
];
const REFERRERS = ['google', 'newsletter', 'twitter', 'direct', 'partner'];

type Random = () => number;

const pick = <T>(items: readonly T[], random: Random): T => items[Math.floor(random() * items.length)];

/** One visit: a short script of events, played one at a time. */
class Session {
  private readonly steps: Array<() => Omit<DemoEvent, 'id' | 'anonymousId' | 'occurredAt' | 'userId'>> = [];
  userId: string | undefined;

  constructor(
    readonly anonymousId: string,
    knownUserId: string | undefined,
    random: Random,
    onSignup: (userId: string) => void,
  ) {
    const referrer = pick(REFERRERS, random);
    const pages = 2 + Math.floor(random() * 6);
    if (knownUserId && random() < 0.6) {
      this.steps.push(() => {
        this.userId = knownUserId;
        return { type: 'login', properties: { method: random() < 0.8 ? 'password' : 'sso' } };
      });
    }
    for (let i = 0; i < pages; i++) {
      const path = i === 0 ? '/' : pick(PAGES, random);
      this.steps.push(() => ({ type: 'page_view', properties: { path, referrer } }));
      if (random() < 0.55)
        this.steps.push(() => ({ type: 'click', properties: { path, button: pick(BUTTONS, random) } }));
    }
    if (!knownUserId && random() < 0.08) {
      this.steps.push(() => {
        this.userId = `user-${anonymousId.slice(5)}`;
        onSignup(this.userId);
        return { type: 'signup', properties: { plan: random() < 0.7 ? 'free' : 'pro', referrer } };
      });
    }
    if (random() < 0.18) {
      const product = pick(PRODUCTS, random);
      const quantity = 1 + Math.floor(random() * 2);
      this.steps.push(() => ({ type: 'add_to_cart', properties: { sku: product.sku, quantity } }));
      if (random() < 0.55) {
        this.steps.push(() => ({
          type: 'purchase',
          properties: {
            sku: product.sku,
            quantity,
            revenue: Math.round(product.price * quantity * 100) / 100,
            currency: 'EUR',
          },
        }));
      }
    }
  }

  /** The next event of this visit, or undefined when the visitor has left. */
  next(now: Date, newId: () => string): DemoEvent | undefined {
    const step = this.steps.shift();
    if (!step) return undefined;
    const body = step();
    return {
      id: newId(),
      anonymousId: this.anonymousId,
      ...(this.userId ? { userId: this.userId } : {}),
      occurredAt: now.toISOString(),
      ...body,
    };
  }
}

export interface VisitorsOptions {
  /** Visits going on at once. Default 50. */
  concurrentVisits?: number;
  /** Source of randomness, for repeatable runs. Default Math.random. */
  random?: Random;
}

/** An endless stream of plausible events from many overlapping visits. */
export function createVisitors(options: VisitorsOptions = {}) {
  const random = options.random ?? Math.random;
  const concurrent = options.concurrentVisits ?? 50;
  const known: string[] = [];
  const sessions: Session[] = [];
  let visitors = 0;
  let counter = 0;
  const runId = Math.floor(random() * 36 ** 6).toString(36);
  const newId = () => `demo-${runId}-${(counter++).toString(36)}`;

  function startVisit(): Session {
    visitors++;
    const returning = known.length > 0 && random() < 0.3 ? pick(known, random) : undefined;
    const anonymousId = `anon-${runId}${visitors.toString(36)}`;
    return new Session(anonymousId, returning, random, (userId) => known.push(userId));
  }

  return {
    /** The next event from a random ongoing visit; a finished visit is replaced by a new visitor. */
    next(now = new Date()): DemoEvent {
      while (sessions.length < concurrent) sessions.push(startVisit());
      for (;;) {
        const index = Math.floor(random() * sessions.length);
        const event = sessions[index].next(now, newId);
        if (event) return event;
        sessions[index] = startVisit();
      }
    },
    visitors: () => visitors,
  };
}
