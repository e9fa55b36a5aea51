/**
 * What most scenarios share: a stack, a workload, a driver aimed at the
 * gateway's current address, and waiting for a share of the load.
 */
import { nanos } from "@nats-io/nats-core";
import { DOMAIN_EVENTS_STREAM, RESEND_EVENTS_STREAM, type NatsHandles } from "../../services/shared/nats.ts";
import { waitFor } from "../harness.ts";
import { drive, type DriverOptions } from "./driver.ts";
import { Ledger } from "./ledger.ts";
import type { Stack } from "./stack.ts";
import { buildWorkload, type Workload, type WorkloadOptions } from "./workload.ts";

export interface Load {
  workload: Workload;
  ledger: Ledger;
  /** Resolves when every delivery got a 2xx or gave up. */
  done: Promise<void>;
  /** Waits until this share (0..1) of the events was attempted at least once. */
  reached(share: number): Promise<void>;
}

export type LoadOptions = Partial<DriverOptions> & Pick<WorkloadOptions, "seed" | "duplicateRate" | "providers">;

/**
 * Starts sending `sends` emails' histories (with duplicates, out of order) to the stack's gateway; of every
 * provider when the stack was started with `providers: "mixed"`, else of Resend only.
 */
export function startLoad(stack: Stack, sends: number, options: LoadOptions = {}): Load {
  const { seed, duplicateRate, providers = stack.providers, ...driverOptions } = options;
  const workload = buildWorkload({ workspaceId: stack.workspaceId, sends, seed, duplicateRate, providers });
  const ledger = new Ledger();
  const done = drive(ledger, workload.deliveries, {
    target: () => stack.url("webhook-gateway"),
    secret: (workspaceId) => stack.secrets.get(workspaceId)!,
    providerKeys: (workspaceId) => stack.providerKeys.get(workspaceId),
    ...driverOptions,
  });
  const total = workload.events.length;
  return {
    workload,
    ledger,
    done,
    reached: async (share) => {
      await waitFor(() => attempted(ledger) >= Math.floor(total * share), { timeoutMs: 120_000, what: `${share * 100}% of the load` });
    },
  };
}

/** Distinct events attempted so far. */
function attempted(ledger: Ledger): number {
  let n = 0;
  for (const entry of ledger.entries.values()) if (entry.outcomes.length > 0) n++;
  return n;
}

/** A random integer in [min, max). */
export const randomBetween = (min: number, max: number) => min + Math.floor(Math.random() * (max - min));

/** The durable consumer of RESEND_EVENTS of each consumer service. */
export const eventsConsumerOf = {
  "delivery-status": "delivery-status",
  "campaign-stats": "campaign-stats-events",
  suppression: "suppression-events",
} as const;

/** Messages a durable consumer has not acked yet (waiting + in flight); undefined while NATS is unreachable. */
export async function backlog(nats: NatsHandles, durable: string): Promise<number | undefined> {
  const info = await nats.jsm.consumers.info(RESEND_EVENTS_STREAM, durable).catch(() => undefined);
  return info ? info.num_pending + info.num_ack_pending : undefined;
}

/**
 * Shortens every durable consumer's ack wait (the services set 30 s at start-up), so messages a
 * SIGKILLed consumer held are redelivered within a short run. Call again after each restart.
 */
export async function shortenAckWait(nats: NatsHandles, ms: number): Promise<void> {
  for (const stream of [RESEND_EVENTS_STREAM, DOMAIN_EVENTS_STREAM]) {
    for await (const info of nats.jsm.consumers.list(stream)) {
      if (info.config.durable_name) await nats.jsm.consumers.update(stream, info.name, { ack_wait: nanos(ms) });
    }
  }
}
