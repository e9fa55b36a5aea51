/**
 * A small Prometheus registry (text exposition format 0.0.4): counters,
 * gauges and histograms with labels. Enough for /metrics without pulling in a
 * client library; label values must come from fixed sets (status, reason,
 * consumer), never from request input.
 */

type Labels = Record<string, string>;

interface Metric {
  render(): string;
}

const key = (labels: Labels) => JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));
const escape = (value: string) => value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const format = (labels: Labels) => {
  const entries = Object.entries(labels);
  return entries.length === 0 ? "" : `{${entries.map(([k, v]) => `${k}="${escape(v)}"`).join(",")}}`;
};

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  readonly name: string;
  readonly help: string;
  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }
  inc(labels: Labels = {}, by = 1): void {
    const id = key(labels);
    const entry = this.values.get(id);
    if (entry) entry.value += by;
    else this.values.set(id, { labels, value: by });
  }
  get(labels: Labels = {}): number {
    return this.values.get(key(labels))?.value ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${format(labels)} ${value}`);
    return lines.join("\n");
  }
}

export class Gauge implements Metric {
  readonly name: string;
  readonly help: string;
  private readonly read: () => number;
  constructor(name: string, help: string, read: () => number) {
    this.name = name;
    this.help = help;
    this.read = read;
  }
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${this.read()}`].join("\n");
  }
}

const defaultBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export class Histogram implements Metric {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  readonly name: string;
  readonly help: string;
  readonly buckets: readonly number[];
  constructor(name: string, help: string, buckets: readonly number[] = defaultBuckets) {
    this.name = name;
    this.help = help;
    this.buckets = buckets;
  }
  /** Records one observation in seconds. */
  observe(seconds: number, labels: Labels = {}): void {
    const id = key(labels);
    let entry = this.series.get(id);
    if (!entry) {
      entry = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(id, entry);
    }
    for (let i = 0; i < this.buckets.length; i++) if (seconds <= this.buckets[i]!) entry.counts[i]!++;
    entry.sum += seconds;
    entry.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const { labels, counts, sum, count } of this.series.values()) {
      this.buckets.forEach((le, i) => lines.push(`${this.name}_bucket${format({ ...labels, le: String(le) })} ${counts[i]}`));
      lines.push(`${this.name}_bucket${format({ ...labels, le: "+Inf" })} ${count}`);
      lines.push(`${this.name}_sum${format(labels)} ${sum}`, `${this.name}_count${format(labels)} ${count}`);
    }
    return lines.join("\n");
  }
}

/** Holds a service's metrics and renders them for GET /metrics. */
export class MetricsRegistry {
  private readonly metrics: Metric[] = [];
  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help));
  }
  gauge(name: string, help: string, read: () => number): Gauge {
    return this.add(new Gauge(name, help, read));
  }
  histogram(name: string, help: string, buckets?: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, buckets));
  }
  render(): string {
    return this.metrics.map((metric) => metric.render()).join("\n") + "\n";
  }
  private add<T extends Metric>(metric: T): T {
    this.metrics.push(metric);
    return metric;
  }
}
