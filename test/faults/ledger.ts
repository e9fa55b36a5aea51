/**
 * The ledger: every event the load driver meant to deliver and every answer
 * the gateway gave, so the checker can tell what was promised (2xx) from what
 * was refused or left in doubt.
 */
import type { PlannedEvent } from "./workload.ts";

/** An answer: an HTTP status, or no answer at all (connection refused/reset, client timeout). */
export type Outcome = number | "no-answer";

/** A request meant to be refused (scenario 9): it must have no effect whatever the answer. */
export interface HostileEvent {
  svixId: string;
  workspaceId: string;
  emailId: string;
  kind: string;
}

export interface LedgerEntry {
  event: PlannedEvent | HostileEvent;
  hostile: boolean;
  outcomes: Outcome[];
}

const is2xx = (outcome: Outcome) => typeof outcome === "number" && outcome >= 200 && outcome < 300;

/** Every event and every answer, keyed by svix id. */
export class Ledger {
  readonly entries = new Map<string, LedgerEntry>();
  requests = 0;

  /** Registers an event the driver will send (idempotent). */
  plan(event: PlannedEvent): void {
    if (!this.entries.has(event.svixId)) this.entries.set(event.svixId, { event, hostile: false, outcomes: [] });
  }

  /** Registers a request that must be refused. */
  planHostile(event: HostileEvent): void {
    this.entries.set(event.svixId, { event, hostile: true, outcomes: [] });
  }

  /** Records one answer to one request. */
  record(svixId: string, outcome: Outcome): void {
    this.requests++;
    const entry = this.entries.get(svixId);
    if (!entry) throw new Error(`ledger: unplanned svix id ${svixId}`);
    entry.outcomes.push(outcome);
  }

  /** True once the gateway answered 2xx to any request of the event: it promised the event is durable. */
  acknowledged(svixId: string): boolean {
    return this.entries.get(svixId)?.outcomes.some(is2xx) ?? false;
  }

  /** Planned (non-hostile) events the gateway acknowledged. */
  acknowledgedEvents(): PlannedEvent[] {
    return [...this.entries.values()]
      .filter((entry) => !entry.hostile && entry.outcomes.some(is2xx))
      .map((entry) => entry.event as PlannedEvent);
  }

  /** Count of answers by status ("no-answer" for none), across all requests. */
  answers(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const entry of this.entries.values()) {
      for (const outcome of entry.outcomes) counts[String(outcome)] = (counts[String(outcome)] ?? 0) + 1;
    }
    return counts;
  }
}
