/**
 * A service's Prometheus metrics, kept by prom-client: one Registry per
 * service (a test may run several services in one process, so never the
 * library's global registry), with the process metrics on it. A thin facade:
 * asking twice for a metric of one name returns the same one, so every
 * consumer of a service shares one series family labelled by `consumer`.
 * Label values must come from fixed sets (status, reason, consumer, RPC
 * method), never from request input.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from "prom-client";
import { isWorkerProcess } from "./worker-processes.ts";
import { metricsOfAllWorkers, serveRegistryToPrimary } from "./cluster-metrics.ts";

export type { Counter, Gauge, Histogram };

/**
 * How a gauge's values of several worker processes of one service make its value (cluster-metrics.ts): `sum`
 * for what each process holds (its own connections, its own cache), `max` for what every process reads from the
 * same place (a stream's size, a consumer's pending count), `min` for "up" gauges (1 only when every worker is).
 */
export type AcrossWorkers = "sum" | "max" | "min";

/** Seconds, from half a millisecond (a verification, a cached read) to ten (a stream election, a slow batch). */
export const latencyBuckets: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

let processMetrics: Metric[] | undefined;

/**
 * The process metrics (CPU, memory, event loop lag, heap, GC, handles), made once per process: each set
 * enables an event-loop-delay monitor and a GC observer that cannot be turned off again, so a test
 * process starting dozens of services would otherwise keep dozens of each. They describe the process,
 * not a service, so every registry in it shows the same objects. All of them work on Deno 2.
 */
function sharedProcessMetrics(): Metric[] {
  if (!processMetrics) {
    const holder = new Registry();
    collectDefaultMetrics({ register: holder });
    // Typed as plain objects, but they are the metric instances themselves (what Registry.merge relies on too).
    processMetrics = holder.getMetricsAsArray() as unknown as Metric[];
  }
  return processMetrics;
}

/** Holds one service's metrics and renders them for GET /metrics. */
export class MetricsRegistry {
  readonly registry = new Registry();

  constructor() {
    for (const metric of sharedProcessMetrics()) this.registry.registerMetric(metric);
  }

  /** The Content-Type of what render() returns. */
  get contentType(): string {
    return this.registry.contentType;
  }

  counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return this.existing(name, Counter) ?? new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  /** A gauge; with `collect`, its value is set at each scrape (which awaits a returned promise). */
  gauge<L extends string = never>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    collect?: (gauge: Gauge<L>) => void | Promise<void>,
    acrossWorkers: AcrossWorkers = "sum",
  ): Gauge<L> {
    const known = this.existing<Gauge<L>>(name, Gauge);
    if (known) return known;
    const gauge: Gauge<L> = new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      aggregator: acrossWorkers,
      ...(collect ? { collect: () => collect(gauge) } : {}),
    });
    return gauge;
  }

  histogram<L extends string = never>(name: string, help: string, labelNames: readonly L[] = [], buckets: readonly number[] = latencyBuckets): Histogram<L> {
    return this.existing(name, Histogram) ?? new Histogram({ name, help, labelNames, buckets: [...buckets], registers: [this.registry] });
  }

  /** The text exposition of every metric; runs the gauges' collect callbacks. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * What GET /metrics answers: render(), or in a worker process (worker-processes.ts) the whole service's
   * metrics, every worker's gathered by the primary.
   */
  renderForScrape(): Promise<string> {
    return isWorkerProcess() ? metricsOfAllWorkers() : this.render();
  }

  /** In a worker process, lets the primary gather this registry (a no-op in a process of its own). */
  serveToPrimary(): void {
    if (isWorkerProcess()) serveRegistryToPrimary(this.registry);
  }

  private existing<M>(name: string, type: abstract new (...args: never[]) => unknown): M | undefined {
    const metric = this.registry.getSingleMetric(name);
    if (!metric) return undefined;
    if (!(metric instanceof type)) throw new Error(`metric ${name} is registered with another type`);
    return metric as M;
  }
}
