/**
 * What most scenarios share: a stack, a workload, a driver aimed at the
 * gateway's current address, and waiting for a share of the load.
 */
import { waitFor } from "../harness.ts";
import { drive, type DriverOptions } from "./driver.ts";
import { Ledger } from "./ledger.ts";
import type { Stack } from "./stack.ts";
import { buildWorkload, type Workload } from "./workload.ts";

export interface Load {
  workload: Workload;
  ledger: Ledger;
  /** Resolves when every delivery got a 2xx or gave up. */
  done: Promise<void>;
  /** Waits until this share (0..1) of the deliveries was attempted at least once. */
  reached(share: number): Promise<void>;
}

/** Starts sending `sends` emails' histories (with duplicates, out of order) to the stack's gateway. */
export function startLoad(stack: Stack, sends: number, options: Partial<DriverOptions> & { seed?: number; duplicateRate?: number } = {}): Load {
  const workload = buildWorkload({ workspaceId: stack.workspaceId, sends, seed: options.seed, duplicateRate: options.duplicateRate });
  const ledger = new Ledger();
  const done = drive(ledger, workload.deliveries, {
    target: () => stack.url("webhook-gateway"),
    secret: (workspaceId) => stack.secrets.get(workspaceId)!,
    ...options,
  });
  const total = workload.deliveries.length;
  return {
    workload,
    ledger,
    done,
    reached: (share) =>
      waitFor(() => attempted(ledger) >= Math.floor(total * share), { timeoutMs: 120_000, what: `${share * 100}% of the load` }),
  };
}

/** Distinct deliveries attempted so far. */
function attempted(ledger: Ledger): number {
  let n = 0;
  for (const entry of ledger.entries.values()) if (entry.outcomes.length > 0) n++;
  return n;
}

/** A random integer in [min, max). */
export const randomBetween = (min: number, max: number) => min + Math.floor(Math.random() * (max - min));
