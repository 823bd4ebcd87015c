import uPlot from 'uplot';
import { typeColour } from './format.js';

const WINDOW_S = 15 * 60;
const MAX_SERIES = 8;

/**
 * Events per second by type over the last 15 minutes. History comes from per-minute counts (spread
 * evenly over their minute); from then on every live event is counted in its second.
 */
export function createRateChart(container: HTMLElement) {
  const counts = new Map<string, Map<number, number>>();
  let plot: uPlot | undefined;
  let seriesTypes: string[] = [];

  function add(type: string, second: number, amount: number): void {
    let perSecond = counts.get(type);
    if (!perSecond) {
      perSecond = new Map();
      counts.set(type, perSecond);
    }
    perSecond.set(second, (perSecond.get(second) ?? 0) + amount);
  }

  function topTypes(from: number): string[] {
    const totals = [...counts].map(([type, perSecond]) => {
      let sum = 0;
      for (const [second, n] of perSecond) if (second >= from) sum += n;
      return [type, sum] as const;
    });
    return totals
      .filter(([, sum]) => sum > 0)
      .sort((a, b) => b[1] - a[1])
      .slice(0, MAX_SERIES)
      .map(([type]) => type)
      .sort();
  }

  function build(types: string[]): void {
    plot?.destroy();
    seriesTypes = types;
    const width = Math.max(280, container.clientWidth);
    plot = new uPlot(
      {
        width,
        height: 260,
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
        axes: [
          { stroke: '#9aa4b2', grid: { stroke: '#2a3140' } },
          { stroke: '#9aa4b2', grid: { stroke: '#2a3140' }, label: 'events/s' },
        ],
        series: [
          {},
          ...types.map((type) => ({ label: type, stroke: typeColour(type), width: 2, points: { show: false } })),
        ],
        legend: { live: false },
      },
      [[], ...types.map(() => [])],
      container,
    );
  }

  function render(): void {
    const now = Math.floor(Date.now() / 1000);
    const from = now - WINDOW_S;
    for (const perSecond of counts.values()) {
      for (const second of perSecond.keys()) if (second < from) perSecond.delete(second);
    }
    const types = topTypes(from);
    if (!plot || types.join('\n') !== seriesTypes.join('\n')) build(types);
    const xs: number[] = [];
    for (let s = from; s < now; s++) xs.push(s);
    const ys = types.map((type) => {
      const perSecond = counts.get(type) ?? new Map<number, number>();
      return xs.map((s) => perSecond.get(s) ?? 0);
    });
    plot?.setData([xs, ...ys]);
    container.dataset.series = types.join(',');
  }

  new ResizeObserver(() => plot?.setSize({ width: Math.max(280, container.clientWidth), height: 260 })).observe(
    container,
  );

  return {
    /** Per-minute history, spread over the seconds of its minute that had passed by `untilMs`. */
    addHistory(type: string, minuteStartIso: string, count: number, untilMs: number): void {
      const start = Math.floor(Date.parse(minuteStartIso) / 1000);
      const end = Math.min(start + 60, Math.ceil(untilMs / 1000));
      if (end <= start || count === 0) return;
      for (let s = start; s < end; s++) add(type, s, count / (end - start));
    },
    addEvent(type: string, receivedAtIso: string): void {
      add(type, Math.floor(Date.parse(receivedAtIso) / 1000), 1);
    },
    /** Events counted for a type within the window, for tests and the screen reader summary. */
    total(type: string): number {
      let sum = 0;
      for (const n of counts.get(type)?.values() ?? []) sum += n;
      return sum;
    },
    render,
  };
}
