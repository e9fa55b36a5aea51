/**
 * One timing window: a closed loop of calls, one in flight, after a short
 * warm-up. It runs for `seconds` and at least `minCalls` calls, but never
 * longer than `maxSeconds` nor more than `maxCalls` calls, so a slow RPC
 * still gets enough samples for a p99 and a stuck one cannot hold the run.
 */
import { percentile } from "../e2e/e2e.ts";
import { sampleCpu } from "../lib/proc.ts";

export interface WindowBounds {
  seconds: number;
  minCalls: number;
  maxSeconds: number;
  maxCalls: number;
  warmupCalls: number;
}

export interface WindowResult {
  calls: number;
  errors: number;
  firstError?: string;
  seconds: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Cores each process used during the window (CPU seconds / wall seconds). */
  cores: Record<string, number>;
}

/** Times `call(i)` (i counts from 0, warm-up included) within `bounds`; samples the CPU of `pids`. */
export async function timeWindow(call: (i: number) => Promise<unknown>, bounds: WindowBounds, pids: Record<string, number>): Promise<WindowResult> {
  let i = 0, errors = 0;
  let firstError: string | undefined;
  const attempt = async () => {
    try {
      await call(i++);
      return true;
    } catch (error) {
      errors++;
      firstError ??= error instanceof Error ? error.message : String(error);
      return false;
    }
  };
  const warmupEnd = performance.now() + bounds.maxSeconds * 1000;
  for (let w = 0; w < bounds.warmupCalls && performance.now() < warmupEnd; w++) await attempt();
  errors = 0;
  firstError = undefined;

  const latencies: number[] = [];
  const cpuBefore = sampleCpu(pids);
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  while (latencies.length + errors < bounds.maxCalls && elapsed() < bounds.maxSeconds && (elapsed() < bounds.seconds || latencies.length + errors < bounds.minCalls)) {
    const t0 = performance.now();
    if (await attempt()) latencies.push(performance.now() - t0);
  }
  const seconds = elapsed();
  const cpuAfter = sampleCpu(pids);
  latencies.sort((a, b) => a - b);
  return {
    calls: latencies.length,
    errors,
    ...(firstError ? { firstError } : {}),
    seconds,
    rps: latencies.length / seconds,
    p50Ms: percentile(latencies, 50),
    p90Ms: percentile(latencies, 90),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies.at(-1) ?? Number.NaN,
    cores: Object.fromEntries(Object.keys(pids).map((name) => [name, (cpuAfter[name]! - cpuBefore[name]!) / seconds])),
  };
}
