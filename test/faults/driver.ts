/**
 * The load driver: sends signed, realistic webhooks to the gateway the way
 * each provider does — every retry of a request carries the same events (the
 * same svix id, SendGrid's same array), signed as that provider signs a retry
 * (provider-requests.ts) — and records every answer in the ledger, for each
 * event the request carried. Retries continue until a 2xx, within a bounded
 * number of attempts and a deadline.
 */
import type { Ledger, Outcome } from "./ledger.ts";
import type { ProviderKeys } from "./provider-keys.ts";
import { requestOf, type WebhookRequest } from "./provider-requests.ts";
import type { PlannedDelivery } from "./workload.ts";

export interface DriverOptions {
  /** Base URL of the gateway now (it may move when the gateway is restarted). */
  target: () => string;
  /** Resend signing secret of a workspace (read at every attempt: scenario 13 rotates it). */
  secret: (workspaceId: string) => string;
  /** The other providers' credentials of a workspace (needed only by a mixed workload). */
  providerKeys?: (workspaceId: string) => ProviderKeys | undefined;
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

/** Posts one signed request once; returns the status or "no-answer". */
export async function postSigned(baseUrl: string, workspaceId: string, request: WebhookRequest, timeoutMs = 15_000): Promise<Outcome> {
  try {
    const response = await fetch(`${baseUrl}${request.path}?workspaceId=${encodeURIComponent(workspaceId)}`, {
      method: "POST",
      headers: request.headers,
      body: request.body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return "no-answer";
  }
}

/** Delivers every item of `deliveries` (duplicates included) until each got a 2xx or its attempts ran out. */
export async function drive(ledger: Ledger, deliveries: readonly PlannedDelivery[], options: DriverOptions): Promise<void> {
  const concurrency = options.concurrency ?? 8;
  const maxAttempts = options.maxAttempts ?? 30;
  const retryDelay = options.retryDelayMs ?? ((n: number) => Math.min(1000, 100 * 2 ** n));
  const started = Date.now();
  const deadline = started + (options.deadlineMs ?? 120_000);
  for (const delivery of deliveries) ledger.plan(delivery);
  let next = 0;
  const worker = async () => {
    while (next < deliveries.length) {
      const index = next++;
      const delivery = deliveries[index]!;
      const svixIds = delivery.events.map((event) => event.svixId);
      const ws = delivery.workspaceId;
      if (options.ratePerSecond) {
        const due = started + (index * 1000) / options.ratePerSecond;
        if (due > Date.now()) await delay(due - Date.now());
      }
      for (let attempt = 0; attempt < maxAttempts && Date.now() < deadline; attempt++) {
        const request = requestOf(delivery, { resend: options.secret(ws), others: options.providerKeys?.(ws) });
        const outcome = await postSigned(options.target(), ws, request, options.requestTimeoutMs);
        ledger.record(svixIds, outcome);
        if (typeof outcome === "number" && outcome >= 200 && outcome < 300) break;
        await delay(retryDelay(attempt));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
