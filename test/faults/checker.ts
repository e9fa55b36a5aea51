/**
 * The ledger-based checker. After a run it compares what the gateway promised
 * (the ledger's 2xx answers) with what JetStream stored and what the services
 * report through their RPCs, waiting for the pipeline to settle (polling with
 * a deadline), and returns a verdict:
 *
 * - every acknowledged event is stored and applied exactly once
 *   (delivery-status timeline: one entry per svix id; send open/click counts);
 * - nothing refused has any effect (no stored copy, no timeline entry, no
 *   suppression of the address it names);
 * - each send's status, campaign statistics and suppression equal a
 *   recomputation from the ledger's acknowledged INPUT (expected.ts), with the
 *   same rules whichever provider an event came from.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { repoRoot } from "../../tools/local-servers.ts";
import type { Ledger, HostileEvent } from "./ledger.ts";
import { backlog, eventsConsumerOf } from "./scenario-helpers.ts";
import { consumerServices, type Stack } from "./stack.ts";
import { DOMAIN_EVENTS_STREAM, RESEND_EVENTS_STREAM, type NatsHandles } from "../../services/shared/nats.ts";
import { checkerConnection, storedCopies } from "./stream-reader.ts";
import { SendStatus } from "../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { expectedFrom, type Expected, type StatusName } from "./expected.ts";
import type { PlannedEvent } from "./workload.ts";

export { expectedFrom } from "./expected.ts";

export interface Verdict {
  scenario: string;
  /** Distinct events the driver meant to deliver (hostile requests included). */
  sent: number;
  /** HTTP requests made (retries and duplicates included). */
  requests: number;
  /** Distinct events answered 2xx at least once. */
  acked: number;
  /** Acknowledged events with at least one copy in RESEND_EVENTS. */
  stored: number;
  /** Copies in RESEND_EVENTS (more than `stored` when retries came after the duplicate window). */
  storedCopies: number;
  /** Acknowledged events applied exactly once by delivery-status. */
  applied: number;
  /** Acknowledged events not stored, or not applied. */
  lost: number;
  /** Extra applications (second timeline entries, open/click counts above the input). */
  doubleApplied: number;
  /** Effects of events never acknowledged and refused outright (4xx), or hostile. */
  phantom: number;
  /** Never-acknowledged events with an effect after a 503 / no answer (DESIGN.md allows one stored copy). */
  inDoubt: number;
  /**
   * Stored events of the workspaces under an id the ledger does not know: a forgery stored under another
   * id, or an adapter naming an event otherwise than its provider's id (scenario 7 stores one on purpose).
   */
  unplanned: number;
  /** The lost events (first 10: which, and whether the stream or the timeline misses them), then status, statistics and suppression differences from the recomputation. */
  mismatches: string[];
  answers: Record<string, number>;
  ok: boolean;
  settleMs: number;
}

export interface CheckOptions {
  scenario: string;
  /**
   * Give up waiting when nothing changed for this long (default 45 s): a lost event never arrives, a
   * slow pipeline keeps changing. On a shared 2-core machine the same settle takes 5 s or 90 s.
   */
  stallMs?: number;
  /**
   * Give up sooner, after this long without change, once every durable consumer of both streams has acked all
   * it was given (default: stallMs throughout): nothing is left in JetStream that could still change an answer,
   * so a difference that stays this long is the run's result. For the checker-bites scenarios, whose broken
   * builds never settle.
   */
  drainedStallMs?: number;
  /** Give up waiting after this long in any case (default 180 s). */
  timeoutMs?: number;
  /** Skip services not running in this scenario. */
  stats?: boolean;
  suppression?: boolean;
  /** Acknowledged events expected to be dead-lettered rather than applied (scenario 7). */
  expectedDeadLetters?: ReadonlySet<string>;
}

const sendStatus: Record<StatusName, SendStatus> = {
  sent: SendStatus.SENT,
  delivery_delayed: SendStatus.DELIVERY_DELAYED,
  delivered: SendStatus.DELIVERED,
  opened: SendStatus.OPENED,
  clicked: SendStatus.CLICKED,
  bounced: SendStatus.BOUNCED,
  complained: SendStatus.COMPLAINED,
  failed: SendStatus.FAILED,
  suppressed: SendStatus.SUPPRESSED,
};
const statusName = (value: SendStatus) => Object.entries(sendStatus).find(([, v]) => v === value)?.[0] ?? `status ${value}`;

/** Names the RPC in its error, so a verdict says which service did not answer. */
const labelled = <T>(what: string, call: Promise<T>): Promise<T> =>
  call.catch((error: unknown) => {
    if (error instanceof ConnectError && error.code === Code.NotFound) throw error;
    throw new Error(`${what}: ${String(error)}`, { cause: error });
  });

const notFound = (error: unknown) => error instanceof ConnectError && error.code === Code.NotFound;

/** Cheap comparison, repeated while waiting: send counts, campaign stats, suppression. */
async function cheapMismatches(stack: Stack, expected: Expected, options: CheckOptions) {
  const mismatches: string[] = [];
  let excess = 0;
  const ws = stack.workspaceId;
  for (const [emailId, events] of expected.byEmail) {
    const send = await labelled("delivery-status GetSend", stack.delivery().getSend({ workspaceId: ws, emailId })).then(
      (r) => r.send,
      (error) => {
        if (notFound(error)) return undefined;
        throw error;
      },
    );
    const opens = events.filter((e) => e.type === "email.opened").length;
    const clicks = events.filter((e) => e.type === "email.clicked").length;
    const status = expected.status.get(emailId)!;
    if (!send) {
      mismatches.push(`send ${emailId}: missing`);
      continue;
    }
    if (send.openCount !== opens) mismatches.push(`send ${emailId} open_count ${send.openCount} != ${opens}`);
    if (send.clickCount !== clicks) mismatches.push(`send ${emailId} click_count ${send.clickCount} != ${clicks}`);
    if (send.status !== sendStatus[status]) mismatches.push(`send ${emailId} status ${statusName(send.status)} != ${status}`);
    excess += Math.max(0, send.openCount - opens) + Math.max(0, send.clickCount - clicks);
  }
  if (options.stats !== false) {
    for (const [campaignId, want] of expected.campaigns) {
      const { stats } = await labelled("campaign-stats GetCampaignStats", stack.stats().getCampaignStats({ workspaceId: ws, campaignId }));
      for (const [field, value] of Object.entries(want)) {
        const got = Number((stats as unknown as Record<string, bigint>)[field] ?? 0n);
        if (got !== value) mismatches.push(`campaign ${campaignId} ${field} ${got} != ${value}`);
        if ((field === "opens" || field === "clicks") && got > value) excess += got - value;
      }
      // Rates (DESIGN.md): derived from the expected counts, a zero denominator gives 0.
      const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);
      const rates: Record<string, number> = {
        deliveryRate: ratio(want.delivered!, want.sent!),
        openRate: ratio(want.uniqueOpens!, want.delivered!),
        clickRate: ratio(want.uniqueClicks!, want.delivered!),
        clickToOpenRate: ratio(want.uniqueClicks!, want.uniqueOpens!),
        bounceRate: ratio(want.hardBounced!, want.sent!),
        softBounceRate: ratio(want.softBounced!, want.sent!),
        complaintRate: ratio(want.complained!, want.delivered!),
        unsubscribeRate: ratio(want.unsubscribed!, want.delivered!),
      };
      for (const [field, value] of Object.entries(rates)) {
        const got = (stats?.rates as unknown as Record<string, number> | undefined)?.[field] ?? 0;
        if (Math.abs(got - value) > 1e-9) mismatches.push(`campaign ${campaignId} rates.${field} ${got} != ${value}`);
      }
    }
  }
  if (options.suppression !== false) {
    const emails = [...expected.addresses];
    for (let i = 0; i < emails.length; i += 1000) {
      const { results } = await labelled(
        "suppression CheckSuppressions",
        stack.suppression().checkSuppressions({ workspaceId: ws, emails: emails.slice(i, i + 1000) }),
      );
      for (const result of results) {
        const want = expected.suppressed.has(result.email);
        if (result.suppressed !== want) mismatches.push(`suppression ${result.email} ${result.suppressed} != ${want}`);
      }
    }
  }
  return { mismatches, excess };
}

/** Runs a read again while it fails with an error `passing` accepts, for up to `forMs` (then that error is thrown). */
async function retrying<T>(read: () => Promise<T>, passing: (error: unknown) => boolean, forMs: number): Promise<T> {
  const deadline = Date.now() + forMs;
  for (;;) {
    try {
      return await read();
    } catch (error) {
      if (!passing(error) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/**
 * Unavailable asks a client to try again: right after a dependency comes back a service may refuse a few
 * reads, which is not a verdict on the data.
 */
const unavailable = (error: unknown) => error instanceof ConnectError && error.code === Code.Unavailable;

/** Timeline entries per svix id of the given emails. */
async function timelineCounts(stack: Stack, emailIds: Iterable<string>) {
  const counts = new Map<string, number>();
  for (const emailId of emailIds) {
    let pageToken = "";
    do {
      const token = pageToken;
      const page = await retrying(
        () => stack.delivery().listSendEvents({ workspaceId: stack.workspaceId, emailId, pageSize: 500, pageToken: token }),
        unavailable,
        30_000,
      ).catch((error) => {
        if (notFound(error)) return { events: [], nextPageToken: "" };
        throw error;
      });
      for (const event of page.events) counts.set(event.svixId, (counts.get(event.svixId) ?? 0) + 1);
      pageToken = page.nextPageToken;
    } while (pageToken);
  }
  return counts;
}


/** The running consumers' durables of RESEND_EVENTS that still hold messages (`name=n`); [] when all drained. */
async function unfinished(stack: Stack, nats: NatsHandles): Promise<string[]> {
  const waiting: string[] = [];
  for (const name of consumerServices) {
    if (!stack.running(name)) continue;
    const held = await backlog(nats, eventsConsumerOf[name]);
    if (held !== 0) waiting.push(`${eventsConsumerOf[name]}=${held ?? "unknown"}`);
  }
  return waiting;
}

/** True when every durable consumer of both streams, whoever runs it, has acked all it was given. */
async function everyDurableDrained(nats: NatsHandles): Promise<boolean> {
  try {
    for (const stream of [RESEND_EVENTS_STREAM, DOMAIN_EVENTS_STREAM]) {
      for await (const info of nats.jsm.consumers.list(stream)) {
        if (info.config.durable_name && info.num_pending + info.num_ack_pending > 0) return false;
      }
    }
    return true;
  } catch {
    return false; // NATS not answering: nothing is known to be drained
  }
}

/** Waits for the pipeline to settle (or the deadline) and returns the verdict; prints and saves it. */
export async function check(stack: Stack, ledger: Ledger, options: CheckOptions): Promise<Verdict> {
  const started = Date.now();
  const deadline = started + (options.timeoutMs ?? 180_000);
  const stallMs = options.stallMs ?? 45_000;
  let lastChange = started;
  let lastSeen = "";
  const expected = expectedFrom(ledger, options.expectedDeadLetters);
  let cheap = { mismatches: ["not checked"], excess: 0 };
  // Right after every node restarted, a cluster has no JetStream leader yet and its API requests time out.
  const nats = await retrying(() => checkerConnection(stack.natsUrl), () => true, 60_000);
  for (let round = 0; ; round++) {
    cheap = await cheapMismatches(stack, expected, options).catch((error) => ({
      mismatches: [`rpc failed: ${String(error)}`],
      excess: 0,
    }));
    // Counts can all be right while an event that moves none of them (a second delivery_delayed, say) still
    // waits in a consumer — held by a killed instance until its ack wait ends: settled means drained too.
    const waiting = await unfinished(stack, nats);
    const drained = options.drainedStallMs !== undefined && waiting.length === 0 && (await everyDurableDrained(nats));
    const seen = `${cheap.mismatches.join("\n")}\n${waiting.join(" ")}\n${drained}`;
    if (seen !== lastSeen) [lastSeen, lastChange] = [seen, Date.now()];
    const stalled = Date.now() - lastChange > (drained ? options.drainedStallMs! : stallMs);
    if ((cheap.mismatches.length === 0 && waiting.length === 0) || Date.now() > deadline || stalled) break;
    if (process.env.FAULTS_DEBUG) console.log(`[faults] settling, round ${round}: ${cheap.mismatches.length} mismatches, e.g. ${cheap.mismatches[0]}`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 250 * (round + 1))));
  }
  const settleMs = Date.now() - started;

  let stored: Map<string, number>;
  try {
    // A cluster may still be electing a stream leader after a node came back: JetStream requests then time out.
    // A read that misses acknowledged events is read again for a while before it counts as loss: CI once saw
    // a cluster run read 0 stored copies while every event was applied (a stale or short answer).
    const patientUntil = Date.now() + 15_000;
    const acknowledged = [...ledger.entries].filter(([svixId, entry]) => ledger.acknowledged(svixId) && !entry.hostile).map(([svixId]) => svixId);
    stored = await retrying(
      async () => {
        const { copies } = await storedCopies(nats, [...stack.secrets.keys()]);
        const missing = acknowledged.filter((svixId) => !copies.has(svixId)).length;
        if (missing > 0 && Date.now() < patientUntil) throw new Error(`${missing} acknowledged events not read back from the stream yet`);
        return copies;
      },
      () => true,
      60_000,
    );
  } finally {
    await nats.nc.close();
  }
  const entries = [...ledger.entries.values()];
  const emailIds = new Set(entries.map((entry) => (entry.event as PlannedEvent | HostileEvent).emailId));
  const timeline = await timelineCounts(stack, emailIds);

  let acked = 0;
  let storedCount = 0;
  let applied = 0;
  let lost = 0;
  let doubleApplied = cheap.excess;
  let phantom = 0;
  let inDoubt = 0;
  let copies = 0;
  // Which acknowledged events were lost and how, so a failing verdict says where to look (CI keeps little output).
  const lostEvents: string[] = [];
  for (const [svixId, entry] of ledger.entries) {
    const copiesOf = stored.get(svixId) ?? 0;
    const appliedOf = timeline.get(svixId) ?? 0;
    copies += copiesOf;
    if (ledger.acknowledged(svixId) && !entry.hostile) {
      acked++;
      if (copiesOf > 0) storedCount++;
      const deadLettered = options.expectedDeadLetters?.has(svixId) ?? false;
      if (copiesOf === 0 || (appliedOf === 0 && !deadLettered)) {
        lost++;
        const { type, emailId, provider } = entry.event as PlannedEvent;
        const how = copiesOf === 0 ? "not in RESEND_EVENTS" : "stored but no delivery-status timeline entry";
        lostEvents.push(`lost ${svixId} (${provider} ${type} of ${emailId}, answers ${entry.outcomes.join(",")}): ${how}`);
      }
      if (appliedOf === 1 || (deadLettered && appliedOf === 0)) applied++;
      if (appliedOf > 1) doubleApplied += appliedOf - 1;
    } else if (copiesOf > 0 || appliedOf > 0) {
      const maybeStored = !entry.hostile && entry.outcomes.some((o) => o === "no-answer" || (typeof o === "number" && o >= 500));
      if (maybeStored && copiesOf <= 1 && appliedOf <= 1) inDoubt++;
      else phantom++;
    }
  }
  const unplanned = [...stored.keys()].filter((svixId) => !ledger.entries.has(svixId)).length;
  const verdict: Verdict = {
    // A scenario's verdict on a cluster is kept apart from its verdict on one server.
    scenario: stack.cluster ? `${options.scenario}-cluster` : options.scenario,
    sent: entries.length,
    requests: ledger.requests,
    acked,
    stored: storedCount,
    storedCopies: copies,
    applied,
    lost,
    doubleApplied,
    phantom,
    inDoubt,
    unplanned,
    mismatches: [...lostEvents.slice(0, 10), ...cheap.mismatches].slice(0, 20),
    answers: ledger.answers(),
    ok: lost === 0 && doubleApplied === 0 && phantom === 0 && cheap.mismatches.length === 0,
    settleMs,
  };
  report(verdict);
  return verdict;
}

/** Prints the verdict line and keeps it under .cache/faults (the README's table is filled from these). */
export function report(verdict: Verdict, extra: Record<string, unknown> = {}, print = true): void {
  const line = `[faults] ${verdict.scenario}: ${verdict.ok ? "PASS" : "FAIL"} sent=${verdict.sent} requests=${verdict.requests} 2xx=${verdict.acked} stored=${verdict.stored} (copies ${verdict.storedCopies}) applied=${verdict.applied} lost=${verdict.lost} double-applied=${verdict.doubleApplied} phantom=${verdict.phantom} in-doubt=${verdict.inDoubt} unplanned=${verdict.unplanned} mismatches=${verdict.mismatches.length} answers=${JSON.stringify(verdict.answers)} settle=${verdict.settleMs}ms`;
  if (print) console.log(line + (verdict.mismatches.length ? `\n  ${verdict.mismatches.join("\n  ")}` : ""));
  const dir = join(repoRoot, ".cache", "faults");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${verdict.scenario}.json`), JSON.stringify({ ...verdict, ...extra, at: new Date().toISOString() }, null, 2));
}
