/**
 * Bulk data for the RPC benchmark, written straight into the services'
 * collections (while the services run idle) with insertMany batches: a
 * workspace's suppressions, one large campaign's per-send statistics
 * documents, and filler timeline entries of other sends. Each document is
 * built with the owning service's own state functions and key formats, so a
 * service reads it as if its consumers had written it.
 *
 * The standalone scripts (bench/suppression/check.ts,
 * bench/campaign-stats/stats-query.ts) hold the 1,000,000-row loaders; they
 * are top-level scripts that start their own FerretDB, so they cannot be
 * imported here.
 */
import type { Db } from "mongodb";
import { defaultAlertSettings } from "../../services/campaign-stats/alerts.ts";
import { applyFact, applyRecord, contributionOf, emptySendState, type SendState } from "../../services/campaign-stats/send-state.ts";
import { defaultScannerWindowMs } from "../../services/campaign-stats/scanner.ts";
import { StatsRepository } from "../../services/campaign-stats/stats-repository.ts";
import { zeroCounts, countFields } from "../../services/campaign-stats/counts.ts";
import type { TimelineEntry } from "../../services/delivery-status/sends-repository.ts";
import { SubscriberRepository } from "../../services/suppression/subscriber-repository.ts";
import { addManually, newSubscriber } from "../../services/suppression/subscriber-state.ts";

/** Address number `i` of the loaded suppressions (CheckSuppressions asks for some of them). */
export const suppressedAddress = (i: number) => `bounced.${i}@list-${i % 211}.example.org`;

export interface LoadProgress {
  requested: number;
  loaded: number;
  seconds: number;
  perSecond: number;
  stoppedByTimeBound: boolean;
}

interface BatchLoad {
  start?: number;
  requested: number;
  batch: number;
  inFlight: number;
  deadline: number;
  write(from: number, to: number): Promise<void>;
  onProgress?: (loaded: number) => void;
}

/** Writes [start, requested) in batches, `inFlight` at a time, until done or the deadline (performance.now()). */
async function loadInBatches(load: BatchLoad): Promise<LoadProgress> {
  const started = performance.now();
  let next = load.start ?? 0, loaded = 0;
  const worker = async () => {
    while (next < load.requested && performance.now() < load.deadline) {
      const from = next;
      const to = Math.min(load.requested, from + load.batch);
      next = to;
      await load.write(from, to);
      loaded += to - from;
      load.onProgress?.(loaded);
    }
  };
  await Promise.all(Array.from({ length: load.inFlight }, worker));
  const seconds = (performance.now() - started) / 1000;
  const wanted = load.requested - (load.start ?? 0);
  return { requested: wanted, loaded, seconds, perSecond: loaded / Math.max(seconds, 1e-9), stoppedByTimeBound: loaded < wanted };
}

export interface LoadOptions {
  db: Db;
  workspaceId: string;
  /** Items [start, count) are written (default start 0): a second call can top a collection up. */
  start?: number;
  count: number;
  batch: number;
  inFlight: number;
  deadline: number;
  onProgress?: (loaded: number) => void;
}

/** `count` suppressed addresses (AddSuppression's state), through the repository's bulk insert. */
export async function loadSuppressions(options: LoadOptions): Promise<LoadProgress> {
  const repository = new SubscriberRepository(options.db);
  const atMs = Date.UTC(2026, 9, 1);
  return await loadInBatches({
    ...options,
    requested: options.count,
    write: (from, to) =>
      repository.insertMany(
        Array.from({ length: to - from }, (_, k) => {
          const i = from + k;
          const reason = i % 10 === 0 ? "complained" : "bounced";
          return addManually(newSubscriber(options.workspaceId, suppressedAddress(i), atMs), { reason, subscriberId: `sub_${i}`, actor: "rpc-bench", note: "bulk load", atMs: atMs + i }).state;
        }),
      ),
  });
}

/** A send of the big campaign: registered, delivered; a third opened, a tenth clicked, 1 % hard-bounced instead. */
function bigCampaignSend(campaignId: string, i: number, base: number): SendState {
  let state = applyRecord(emptySendState(), campaignId, base + i);
  if (i % 100 === 7) return applyFact(state, { kind: "hardBounced", t: base + i + 20_000 });
  state = applyFact(state, { kind: "delivered", t: base + i + 20_000 });
  if (i % 3 === 0) state = applyFact(state, { kind: "opened", t: base + i + 900_000 });
  if (i % 10 === 0) state = applyFact(state, { kind: "clicked", t: base + i + 960_000, link: `https://www.acme-example.com/offer/${i % 25}`, uaScanner: false });
  return state;
}

/**
 * `count` per-send documents of one campaign in `stats_sends`, then the
 * campaign's totals (the sum of their contributions) written through the
 * repository's own update path. Hour and link documents are not loaded:
 * GetCampaignStats reads only the campaign document.
 */
export async function loadCampaign(options: LoadOptions & { campaignId: string }): Promise<LoadProgress & { sent: number }> {
  const repository = new StatsRepository(options.db);
  await repository.init();
  const sends = options.db.collection<{ _id: string }>("stats_sends");
  const rules = { scannerWindowMs: defaultScannerWindowMs };
  const base = Date.UTC(2026, 10, 20, 9);
  const totals = zeroCounts();
  const progress = await loadInBatches({
    ...options,
    requested: options.count,
    write: async (from, to) => {
      const docs = [];
      for (let i = from; i < to; i++) {
        const emailId = `big-${i}`;
        const state = bigCampaignSend(options.campaignId, i, base);
        const contrib = contributionOf(state, rules);
        const campaignPart = contrib.find((part) => part.kind === "campaign");
        for (const field of countFields) totals[field] += campaignPart?.inc[field] ?? 0;
        docs.push({ _id: `${options.workspaceId}:${emailId}`, workspaceId: options.workspaceId, emailId, campaignId: options.campaignId, v: 1, state, contrib, pending: [], applied: ["record"] });
      }
      await sends.insertMany(docs, { ordered: false });
    },
  });
  // One delta carrying every loaded send's contribution; its ref names no send, so the sweeper drops it.
  const part = { kind: "campaign" as const, campaignId: options.campaignId, inc: { ...totals } };
  await repository.applyParts([{ workspaceId: options.workspaceId, ref: "rpc-bench-load#0", part }], {
    isDone: () => false,
    stillPending: async (refs) => new Set(refs.map((entry) => `${entry.workspaceId}:${entry.ref}`)),
    alertSettings: defaultAlertSettings,
    now: Date.now(),
  });
  return { ...progress, sent: totals.sent };
}

/**
 * `count` timeline entries of other sends (five per send) in
 * `delivery_timeline`, keyed `<workspace>:<svix id>` as the repository keys
 * them. ListSendEvents filters this collection by send.
 */
export async function loadTimelineFiller(options: LoadOptions): Promise<LoadProgress> {
  const timeline = options.db.collection<TimelineEntry & { _id: string }>("delivery_timeline");
  const types = ["email.sent", "email.delivered", "email.opened", "email.clicked", "email.opened"];
  const baseUs = Date.UTC(2026, 10, 20, 9) * 1000;
  return await loadInBatches({
    ...options,
    requested: options.count,
    write: async (from, to) => {
      const docs = Array.from({ length: to - from }, (_, k) => {
        const i = from + k;
        const svixId = `msg_filler_${i}`;
        const type = types[i % types.length]!;
        const entry: TimelineEntry = {
          workspaceId: options.workspaceId,
          emailId: `filler-${Math.floor(i / types.length)}`,
          svixId,
          type,
          eventAtUs: baseUs + i * 1000,
          receivedAtUs: baseUs + i * 1000 + 150_000,
          ...(type === "email.clicked"
            ? { click: { link: `https://www.acme-example.com/blog/november-update?ref=${i}`, ipAddress: "122.115.53.11", userAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15", timestampUs: baseUs + i * 1000 } }
            : {}),
        };
        return { _id: `${options.workspaceId}:${svixId}`, ...entry };
      });
      await timeline.insertMany(docs, { ordered: false });
    },
  });
}
