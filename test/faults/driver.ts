/**
 * The load driver: sends signed, realistic webhooks to the gateway the way
 * Svix does — every retry of an event carries the same svix id with a fresh
 * timestamp and signature — and records every answer in the ledger. Retries
 * continue until a 2xx, within a bounded number of attempts and a deadline.
 */
import { signedHeaders } from "../../cli/sign.ts";
import type { Ledger, Outcome } from "./ledger.ts";
import type { PlannedEvent } from "./workload.ts";

export interface DriverOptions {
  /** Base URL of the gateway now (it may move when the gateway is restarted). */
  target: () => string;
  /** Signing secret of a workspace. */
  secret: (workspaceId: string) => string;
  /** Requests in flight at once (default 8). */
  concurrency?: number;
  /** Deliveries started per second at most (default unlimited); spreads load over time so faults land mid-load. */
  ratePerSecond?: number;
  /** Attempts per delivery before giving up (default 30). */
  maxAttempts?: number;
  /** Delay before the n-th retry (default 100 ms doubling, at most 1 s — Svix's schedule compressed). */
  retryDelayMs?: (attempt: number) => number;
  /** No attempt starts after this many ms from the start (default 120 s). */
  deadlineMs?: number;
  /** Per-request client timeout (default 15 s, what Svix waits for an answer). */
  requestTimeoutMs?: number;
}

/** Posts one signed body once; returns the status or "no-answer". */
export async function postSigned(baseUrl: string, event: PlannedEvent, secret: string, timeoutMs = 15_000): Promise<Outcome> {
  try {
    const response = await fetch(`${baseUrl}/webhooks/resend?workspaceId=${encodeURIComponent(event.workspaceId)}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...signedHeaders(secret, event.body, { id: event.svixId }) },
      body: event.body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return "no-answer";
  }
}

/** Delivers every item of `deliveries` (duplicates included) until each got a 2xx or its attempts ran out. */
export async function drive(ledger: Ledger, deliveries: readonly PlannedEvent[], options: DriverOptions): Promise<void> {
  const concurrency = options.concurrency ?? 8;
  const maxAttempts = options.maxAttempts ?? 30;
  const retryDelay = options.retryDelayMs ?? ((n: number) => Math.min(1000, 100 * 2 ** n));
  const started = Date.now();
  const deadline = started + (options.deadlineMs ?? 120_000);
  for (const event of deliveries) ledger.plan(event);
  let next = 0;
  const worker = async () => {
    while (next < deliveries.length) {
      const index = next++;
      const event = deliveries[index]!;
      if (options.ratePerSecond) {
        const due = started + (index * 1000) / options.ratePerSecond;
        if (due > Date.now()) await delay(due - Date.now());
      }
      for (let attempt = 0; attempt < maxAttempts && Date.now() < deadline; attempt++) {
        const outcome = await postSigned(options.target(), event, options.secret(event.workspaceId), options.requestTimeoutMs);
        ledger.record(event.svixId, outcome);
        if (typeof outcome === "number" && outcome >= 200 && outcome < 300) break;
        await delay(retryDelay(attempt));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
