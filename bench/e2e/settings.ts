/**
 * The e2e benchmark's knobs, read from the environment once. A malformed value
 * stops the run naming its variable (a NaN deadline would end a phase at once).
 */
import type { EmailEventType } from "../../cli/resend-samples.ts";
import { backendFrom } from "./backend.ts";

function knob(name: string, fallback: number, min = 0): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) throw new Error(`${name}: expected a number >= ${min}, got "${raw}"`);
  return value;
}

export const settings = Object.freeze({
  eventCount: knob("BENCH_E2E_EVENTS", 1500, 1),
  concurrency: knob("BENCH_E2E_CONCURRENCY", 24, 1),
  drainSeconds: knob("BENCH_E2E_DRAIN_SECONDS", 90, 1),
  latencySeconds: knob("BENCH_E2E_LATENCY_SECONDS", 20),
  pollMs: knob("BENCH_E2E_POLL_MS", 500, 1),
  ceilingSeconds: knob("BENCH_E2E_CEILING_SECONDS", 10, 1),
  batchSize: knob("BENCH_E2E_BATCH", 500, 1),
  /** Phase 1 with BENCH_E2E_LIFECYCLE=1: three events per send, in this order (each still adds one count). */
  lifecycle: (process.env.BENCH_E2E_LIFECYCLE === "1" ? ["email.sent", "email.delivered", "email.opened"] : ["email.sent"]) as readonly EmailEventType[],
  /** One cell (the default run): its backend and how many instances of each consuming service. */
  backend: backendFrom("BENCH_E2E_BACKEND", "sqlite"),
  instances: knob("BENCH_E2E_INSTANCES", 1, 1),
  /** BENCH_E2E_MATRIX=1: every backend × 1 and 2 instances, in one run. */
  matrix: process.env.BENCH_E2E_MATRIX === "1",
  /** The matrix measures latency only when BENCH_E2E_LATENCY_SECONDS is set: the question there is throughput. */
  matrixLatency: Boolean(process.env.BENCH_E2E_LATENCY_SECONDS?.trim()) && knob("BENCH_E2E_LATENCY_SECONDS", 20) > 0,
  /** BENCH_E2E_START_TOGETHER=1: start all instances of the services at once instead of one after another. */
  startTogether: process.env.BENCH_E2E_START_TOGETHER === "1",
  workspaceId: "bench_e2e",
  campaigns: 40,
});
