/** One line of the benchmark table: a measured value next to its baseline from the same run. */
export interface Row {
  /** What Pulse did, e.g. "trackBatch 100/request over HTTP". */
  name: string;
  /** What it is compared with, e.g. "raw JetStream publish, 1000 acks in flight". */
  baseline: string;
  value: number;
  baselineValue: number;
  /** Unit of value and baselineValue, e.g. "events/s" or "ms p99". */
  unit: string;
  /** value / baselineValue, or baselineValue / value where lower is better (say so in target). */
  ratio: number;
  /** The goal, e.g. ">= 0.8" */
  target: string;
  pass: boolean;
  notes?: string;
}

export type BenchSection = () => Promise<Row[]>;
