/**
 * Several processes of one service on one port (node:cluster), so a service
 * whose work is CPU in JavaScript (the gateway: verifying, parsing) uses every
 * core. The primary only supervises: it forks the workers, each of which is
 * the whole service (its own NATS and database connections; nothing is shared
 * in memory, as between instances). It fails the start-up when a worker dies
 * before all were first ready; after that it replaces any worker that dies (a
 * replacement that cannot start is tried again, up to a minute apart) while
 * the others serve. It passes SIGTERM/SIGINT on and exits when every worker
 * has drained. The primary hands out connections (round robin); requests of
 * one keep-alive connection stay on one worker. `/metrics` of any worker
 * answers for all of them (cluster-metrics.ts).
 *
 * Deno 2's node:cluster is a stub, so there a service runs as one process.
 */
import cluster, { type Worker } from "node:cluster";
import { answerMetricsRequests } from "./cluster-metrics.ts";
import type { Logger } from "./log.ts";

const readyMessage = "ngsreach:worker-ready";

/** Whether this runtime can run a service as several processes (Node.js can; Deno's node:cluster is a stub). */
export const canRunWorkerProcesses = typeof (globalThis as { Deno?: unknown }).Deno === "undefined";

/** Whether this process is one of several workers of a service. */
export function isWorkerProcess(): boolean {
  return canRunWorkerProcesses && cluster.isWorker;
}

/** Which of the service's worker processes this is (0, 1, ...; for its logs), or undefined in a process of its own. */
export function workerSlot(): number | undefined {
  return isWorkerProcess() ? Number(process.env.NGSREACH_WORKER_SLOT ?? cluster.worker?.id) : undefined;
}

/** Tells the primary this worker is serving (a no-op in a process of its own). */
export function reportWorkerReady(): void {
  if (isWorkerProcess()) process.send?.({ type: readyMessage });
}

export interface WorkerProcessOptions {
  count: number;
  log: Logger;
  /** How long the workers get to drain after SIGTERM before they are killed. */
  drainMs: number;
  /** Least time between two restarts of a worker that died (default 1 s). */
  restartDelayMs?: number;
}

/**
 * Runs in the primary until the service stops: forks `count` workers of this same entry point and supervises
 * them. Resolves with the exit code for the primary (0 after a clean drain).
 */
export function superviseWorkers(options: WorkerProcessOptions): Promise<number> {
  const { count, log, drainMs } = options;
  const restartDelayMs = options.restartDelayMs ?? 1000;
  answerMetricsRequests();
  const ready = new Set<Worker>();
  /** Every worker was ready once: from then on a worker that dies is replaced, whenever it dies. */
  let started = false;
  /** Replacements of a slot in a row that died before they were ready, for the backoff. */
  const failedRestarts = new Map<number, number>();
  let stopping = false;
  let exitCode = 0;

  return new Promise((resolve) => {
    const fork = (slot: number) => {
      const worker = cluster.fork({ NGSREACH_WORKER_SLOT: String(slot) });
      worker.on("message", (message: { type?: string }) => {
        if (message?.type !== readyMessage) return;
        ready.add(worker);
        failedRestarts.delete(slot);
        if (ready.size === count) started = true;
        log.info("worker process ready", { slot, pid: worker.process.pid, ready: ready.size, of: count });
      });
      worker.on("exit", (code, signal) => {
        const wasReady = ready.delete(worker);
        if (stopping) {
          if (code !== 0) exitCode = 1;
          if (Object.keys(cluster.workers ?? {}).length === 0) resolve(exitCode);
          return;
        }
        if (!wasReady && !started) {
          // As a one-process service exits when its start-up fails: the reason is in the worker's output above.
          log.error("worker process exited during start-up; stopping the others", { slot, code, signal });
          exitCode = 1;
          stop("a worker's start-up failed");
          if (Object.keys(cluster.workers ?? {}).length === 0) resolve(exitCode);
          return;
        }
        // Once serving, the others go on; a replacement that cannot start (its database down, say) is tried
        // again later and later, up to a minute apart.
        const failures = wasReady ? 0 : (failedRestarts.get(slot) ?? 0) + 1;
        failedRestarts.set(slot, failures);
        const delayMs = Math.min(60_000, restartDelayMs * 2 ** failures);
        log.error(wasReady ? "worker process died; starting another" : "worker process exited before it was ready; trying again", { slot, code, signal, restartInMs: delayMs });
        setTimeout(() => !stopping && fork(slot), delayMs).unref();
      });
    };

    const stop = (why: string) => {
      if (stopping) return;
      stopping = true;
      log.info("stopping worker processes", { why });
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGTERM");
      // Each worker bounds its own drain by SHUTDOWN_DRAIN_SECONDS; this only covers one that hangs past it.
      setTimeout(() => {
        for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGKILL");
      }, drainMs + 5000).unref();
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));

    for (let slot = 0; slot < count; slot++) fork(slot);
  });
}
