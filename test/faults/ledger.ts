/**
 * The ledger: every event the load driver meant to deliver and every answer
 * the gateway gave, so the checker can tell what was promised (2xx) from what
 * was refused or left in doubt. Events are keyed by their envelope id (svix_id,
 * "<provider>:<event id>" for providers other than Resend): one request may
 * carry several (a SendGrid array), and its answer is the answer for each.
 */
import type { PlannedDelivery, PlannedEvent } from "./workload.ts";

/** An answer: an HTTP status, or no answer at all (connection refused/reset, client timeout). */
export type Outcome = number | "no-answer";

/** A request meant to be refused (scenario 9): it must have no effect whatever the answer. */
export interface HostileEvent {
  /** The envelope id the event would be stored under. */
  svixId: string;
  workspaceId: string;
  emailId: string;
  kind: string;
  /** Addresses the event would suppress if it were wrongly accepted (they must stay unsuppressed). */
  addresses?: readonly string[];
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
  /** The request each planned event travels in (the Mailgun token-reuse forgery takes a sent one's signature). */
  readonly deliveryOf = new Map<string, PlannedDelivery>();
  requests = 0;
  private readonly answerCounts: Record<string, number> = {};

  /** Registers the events of a request the driver will send (idempotent). */
  plan(delivery: PlannedDelivery): void {
    for (const event of delivery.events) {
      if (!this.entries.has(event.svixId)) this.entries.set(event.svixId, { event, hostile: false, outcomes: [] });
      this.deliveryOf.set(event.svixId, delivery);
    }
  }

  /** Registers a request that must be refused. */
  planHostile(event: HostileEvent): void {
    this.entries.set(event.svixId, { event, hostile: true, outcomes: [] });
  }

  /** Records one answer to one request, for each event it carried. */
  record(svixIds: string | readonly string[], outcome: Outcome): void {
    this.requests++;
    this.answerCounts[String(outcome)] = (this.answerCounts[String(outcome)] ?? 0) + 1;
    for (const svixId of typeof svixIds === "string" ? [svixIds] : svixIds) {
      const entry = this.entries.get(svixId);
      if (!entry) throw new Error(`ledger: unplanned svix id ${svixId}`);
      entry.outcomes.push(outcome);
    }
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

  /** Count of answers by status ("no-answer" for none), across all requests (a SendGrid array's answer once). */
  answers(): Record<string, number> {
    return { ...this.answerCounts };
  }
}
