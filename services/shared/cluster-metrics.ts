/**
 * `/metrics` of a service running as several worker processes
 * (worker-processes.ts): a scrape reaches whichever worker the connection
 * went to, so that worker asks the primary, which gathers every worker's
 * registry with prom-client's own cluster protocol (AggregatorRegistry) and
 * answers one exposition for the whole service — counters and histograms
 * summed, each gauge by its `aggregator` (metrics.ts). Without this a scrape
 * would see one worker's counters, a different one each time.
 */
import cluster from "node:cluster";
import { AggregatorRegistry, type Registry } from "prom-client";

const requestType = "ngsreach:metrics-request";
const answerType = "ngsreach:metrics-answer";

interface MetricsRequest {
  type: typeof requestType;
  id: number;
}
interface MetricsAnswer {
  type: typeof answerType;
  id: number;
  text?: string;
  error?: string;
}

/** Primary: answers the workers' requests for the whole service's metrics. */
export function answerMetricsRequests(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on("message", (worker, message: MetricsRequest) => {
    if (message?.type !== requestType) return;
    const answer = (fields: Omit<MetricsAnswer, "type" | "id">) => {
      if (worker.isConnected()) worker.send({ type: answerType, id: message.id, ...fields } satisfies MetricsAnswer);
    };
    aggregator.clusterMetrics().then(
      (text) => answer({ text }),
      (error: unknown) => answer({ error: error instanceof Error ? error.message : String(error) }),
    );
  });
}

let nextId = 0;
const waiting = new Map<number, { resolve(text: string): void; reject(error: Error): void }>();

/** Worker: makes `registry` the one the primary gathers from this process, and listens for the primary's answers. */
export function serveRegistryToPrimary(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry(); // installs prom-client's worker-side listener for the primary's requests
  process.on("message", (message: MetricsAnswer) => {
    if (message?.type !== answerType) return;
    const request = waiting.get(message.id);
    waiting.delete(message.id);
    if (message.error !== undefined) request?.reject(new Error(`metrics of the worker processes: ${message.error}`));
    else request?.resolve(message.text ?? "");
  });
}

/** Worker: the whole service's metrics, from the primary; rejects after `timeoutMs`. */
export function metricsOfAllWorkers(timeoutMs = 6000): Promise<string> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiting.delete(id);
      reject(new Error("metrics of the worker processes: the primary did not answer"));
    }, timeoutMs);
    waiting.set(id, {
      resolve: (text) => (clearTimeout(timer), resolve(text)),
      reject: (error) => (clearTimeout(timer), reject(error)),
    });
    process.send!({ type: requestType, id } satisfies MetricsRequest);
  });
}
