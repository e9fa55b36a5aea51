/**
 * Storage of campaign statistics. Hides the MongoDB driver; returns plain objects.
 *
 * Collections (every `_id` composed as `<workspace>:<...>` so hot-path reads
 * and writes are `{_id}` lookups, the only filter FerretDB v1 runs in SQL):
 *
 * - `stats_sends`      `ws:emailId` — the send's state, its applied svix ids
 *   (the latest ones: past 100, the older move to `stats_applied`), the
 *   contribution it last added to its campaign, and `pending` deltas not yet
 *   moved into the campaign documents (the outbox of the send).
 * - `stats_applied`    `ws:svix:<id>` — a cause a send applied that its
 *   document no longer lists (`emailId` says which send), so a redelivery of
 *   the 57th of 10,000 opens is still recognised while the send stays small.
 * - `stats_campaigns`  `ws:enc(campaign)` — totals, the same per mailbox provider
 *   (`byProvider`), alert state and alert outbox.
 * - `stats_hours`      `ws:enc(campaign):<hour ms>` — one UTC hour's counts.
 * - `stats_links`      `ws:enc(campaign):<sha256(link)>` — per-link clicks.
 * - `stats_days`       `ws:day:<day ms>` — one UTC day of the workspace, counts per
 *   mailbox provider (`byProvider`; GetWorkspaceDeliverability).
 *
 * Each write is one single-document update; a batch of them goes in one
 * `bulkWrite` per collection (see mutateMany). Campaign, hour and link documents
 * keep in `recent` the references (`emailId#seq`) of the deltas they applied
 * whose send has not yet confirmed the delta done, which makes applying a
 * delta idempotent without an unbounded list. Every read-modify-write runs
 * under an in-process lock per document (see services/shared/keyed-lock.ts), and on a real
 * MongoDB also under a version guard (`v`), so concurrent writers of other
 * instances cannot interleave.
 *
 * A send document (and what it moved to `stats_applied`) lives SENDS_RETENTION_DAYS
 * after its last write (`updatedAtMs`); campaign, hour and link documents hold
 * sums and stay (sweepExpiredSends).
 */
import { createHash } from "node:crypto";
import type { AnyBulkWriteOperation, Collection, Db, Document } from "mongodb";
import { UnavailableError } from "../shared/errors.ts";
import { initialAlertState, type AlertSettings, type AlertState, type PendingAlert } from "./alerts.ts";
import { countsOf, type Counts } from "./counts.ts";
import { limitAlertMessageId, type BulkSenderLimits, type PendingLimitAlert } from "./deliverability/bulk-sender-limits.ts";
import { providerCountsOf, type ProviderCounts } from "./deliverability/provider-counts.ts";
import { KeyedLock } from "../shared/keyed-lock.ts";
import { ApplyRounds } from "./apply-rounds.ts";
import { mapLimited } from "../shared/map-limited.ts";
import { ensureIndexes, isDuplicateKeyError } from "../shared/mongo.ts";
import { deleteEach, pagesOf, type SweepLimits, type SweepResult } from "../shared/retention.ts";
import { fieldsAfterParts, type PartToApply } from "./part-fields.ts";
import { upgradeSendState, type ContributionPart, type SendState, type StoredSendState } from "./send-state.ts";

export type { PartToApply } from "./part-fields.ts";

/**
 * A delta of a send, listed on it until a write of the send finds it confirmed: one of `rounds` is marked
 * done in `stats_rounds` (every part of it was then applied). A delta without a done round may be
 * unapplied, partly applied or being applied by another instance: whoever writes the send next applies it
 * again (idempotent by its ref) under a round of its own, added to the list.
 */
export interface PendingDelta {
  seq: number;
  parts: ContributionPart[];
  /** The rounds that took it on (older documents have none: never confirmed). */
  rounds?: string[];
}

/** The stored per-send document, as plain data. */
export interface SendRecord {
  workspaceId: string;
  emailId: string;
  v: number;
  state: SendState;
  contrib: ContributionPart[];
  pending: PendingDelta[];
  /**
   * Causes applied (`svix:<id>`, `record`): on a read through updateSends, those the document lists plus
   * those of the change's `causes` found in `stats_applied`.
   */
  applied: string[];
}

/** A send document lists at most this many applied causes; a write past it moves the older ones to `stats_applied`. */
export const appliedKeptLimit = 100;

/** The fields a send write sets. */
export type SendWrite = Pick<SendRecord, "state" | "contrib" | "pending" | "applied">;

/** Stored campaign totals and alert bookkeeping. */
export interface CampaignRecord {
  workspaceId: string;
  campaignId: string;
  counts: Counts;
  /** The same counts per mailbox provider (deliverability/provider-counts.ts). */
  byProvider: ProviderCounts;
  updatedAt: number | null;
  alerts: AlertState;
  outbox: PendingAlert[];
}

/** One hour bucket. */
export interface HourRecord {
  hour: number;
  counts: Counts;
}

/** One link's clicks. */
export interface LinkRecord {
  link: string;
  clicks: number;
  uniqueClicks: number;
  scannerClicks: number;
  firstClickAt: number | null;
  lastClickAt: number | null;
}

/** A campaign document that parts were applied to (or found already applied). */
export interface TouchedCampaign {
  workspaceId: string;
  campaignId: string;
  /** Alerts waiting to be published (new or left over). */
  outbox: PendingAlert[];
}

/** The campaign and workspace-day documents an applyParts call touched. */
export interface TouchedDocuments {
  campaigns: TouchedCampaign[];
  days: TouchedDay[];
}

/** A workspace-day document an applyParts call wrote, with the bulk-sender crossings it holds unpublished. */
export interface TouchedDay {
  workspaceId: string;
  day: number;
  outbox: PendingLimitAlert[];
}

/** How one send changes: `decide` sees the current document and returns the fields to set, or null for none. */
export interface SendChange {
  workspaceId: string;
  emailId: string;
  /** The causes `decide` checks `applied` for (a document that moved causes out looks these up). */
  causes?: readonly string[];
  decide(current: SendRecord | null): SendWrite | null | Promise<SendWrite | null>;
}

/** A read-decide-write of one document, as mutate and mutateMany take it (decide runs between the read and the write). */
interface DocumentChange {
  id: string;
  decide(doc: Stored | null): Document | null | Promise<Document | null>;
}

/** A version guard lost in a bulk write: the entries are redone one by one. */
class GuardLost extends Error {}

/** A delta's reference in one workspace (`emailId#seq`). */
export interface DeltaRef {
  workspaceId: string;
  ref: string;
}

/** How applyParts decides which parts a document still takes. */
export interface ApplyPartsOptions {
  /** Refs this instance saw finished (their send dropped the delta): documents forget them. */
  isDone(workspaceId: string, ref: string): boolean;
  /**
   * Of refs a document has not applied, those whose delta is still pending on its send, read from the
   * database now (keys `workspaceId:ref`).
   */
  stillPending(refs: readonly DeltaRef[]): Promise<ReadonlySet<string>>;
  alertSettings: AlertSettings;
  /** The bulk-sender limits evaluated on workspace-day documents (default: defaultBulkSenderLimits). */
  limits?: BulkSenderLimits;
  now: number;
  /** Called after each collection's bulk write (the crash tests' hook). */
  afterWrite?(kind: ContributionPart["kind"]): Promise<void> | void;
}

/** The parts one campaign, hour or link document takes in an applyParts call. */
interface PartsOfDocument {
  collection: Collection<Stored>;
  id: string;
  /** `collection:id`, the lock and cache key. */
  key: string;
  workspaceId: string;
  kind: ContributionPart["kind"];
  parts: PartToApply[];
}

type Stored = Document & { _id: string; v?: number };

const encodeId = (value: string) => encodeURIComponent(value);
/** Document id of a campaign (campaign ids may hold any character; ':' is encoded). */
export const campaignDocId = (workspaceId: string, campaignId: string) => `${workspaceId}:${encodeId(campaignId)}`;
const hourDocId = (workspaceId: string, campaignId: string, hour: number) => `${campaignDocId(workspaceId, campaignId)}:${hour}`;
/** `ws:day:<day ms>` in its own collection. */
const dayDocId = (workspaceId: string, day: number) => `${workspaceId}:day:${day}`;
const linkDocId = (workspaceId: string, campaignId: string, link: string) =>
  `${campaignDocId(workspaceId, campaignId)}:${createHash("sha256").update(link).digest("base64url").slice(0, 24)}`;
/** The kinds of document a send's contribution goes to, in the order a delta is applied. */
export type PartKind = ContributionPart["kind"];
const partKinds: readonly PartKind[] = ["campaign", "hour", "link", "day"];

const sendDocId = (workspaceId: string, emailId: string) => `${workspaceId}:${emailId}`;

export class StatsRepository {
  private readonly sends: Collection<Stored>;
  private readonly campaigns: Collection<Stored>;
  private readonly hours: Collection<Stored>;
  private readonly links: Collection<Stored>;
  private readonly days: Collection<Stored>;
  private readonly applied: Collection<{ _id: string; emailId: string }>;
  private readonly roundsDone: Collection<{ _id: string; atMs: number }>;
  private readonly locks = new KeyedLock();
  /** The last known state of recently written documents (see mutate). */
  private readonly recentDocs = new RecentDocuments(20_000);
  /** Version guard in filters; off only in the fault suite's deliberately broken build. */
  private versionGuard = true;
  /** applyParts' rounds: the calls made while one is under way are applied together, in the next. */
  private readonly rounds = new ApplyRounds<{ parts: readonly PartToApply[]; options: ApplyPartsOptions }, TouchedDocuments>({
    // The options are the same for every caller of one process (its ingest deps) but for `now`, which is
    // the time alerts are stamped with: the first caller's.
    applyTogether: (inputs) => this.applyPartsNow(inputs.flatMap((input) => input.parts), inputs[0]!.options),
    shareOf: (touched, { parts }) => {
      const keys = new Set(parts.map(({ workspaceId, part }) => (part.kind === "day" ? `${workspaceId}\u0000day\u0000${part.day}` : `${workspaceId}\u0000${part.campaignId}`)));
      return {
        campaigns: touched.campaigns.filter((campaign) => keys.has(`${campaign.workspaceId}\u0000${campaign.campaignId}`)),
        days: touched.days.filter((day) => keys.has(`${day.workspaceId}\u0000day\u0000${day.day}`)),
      };
    },
    sizeOf: (input) => input.parts.length,
    maxRoundSize: 2_000,
    maxWaitMs: 10_000,
  });

  constructor(db: Db) {
    this.sends = db.collection<Stored>("stats_sends");
    this.campaigns = db.collection<Stored>("stats_campaigns");
    this.hours = db.collection<Stored>("stats_hours");
    this.links = db.collection<Stored>("stats_links");
    this.days = db.collection<Stored>("stats_days");
    this.applied = db.collection("stats_applied");
    this.roundsDone = db.collection("stats_rounds");
  }

  /**
   * Creates the indexes of every query path. Every write is guarded by the version it read, on MongoDB
   * and on the local FerretDB alike (its build is patched to be atomic per document and to look up a
   * filter with an `_id` equality by `_id`, see scripts/build-tools.ts). `versionGuard: false` exists
   * only so the fault suite can show its checker catches the lost updates of a build without it.
   */
  async init(options: { versionGuard?: boolean } = {}): Promise<void> {
    this.versionGuard = options.versionGuard ?? true;
    await ensureIndexes(this.sends, [{ key: { workspaceId: 1, campaignId: 1 } }, { key: { updatedAtMs: 1 } }]);
    await ensureIndexes(this.applied, [{ key: { emailId: 1 } }]);
    // `hasOutbox`: the sweeper's search for unpublished alerts (an index FerretDB's equality pushdown uses).
    await ensureIndexes(this.campaigns, [{ key: { workspaceId: 1, campaignId: 1 } }, { key: { hasOutbox: 1 } }]);
    await ensureIndexes(this.hours, [{ key: { workspaceId: 1, campaignId: 1, hour: 1 } }]);
    await ensureIndexes(this.links, [{ key: { workspaceId: 1, campaignId: 1, link: 1 } }]);
    await ensureIndexes(this.days, [{ key: { workspaceId: 1, day: 1 } }, { key: { hasOutbox: 1 } }]);
    await ensureIndexes(this.roundsDone, [{ key: { atMs: 1 } }]);
  }

  // ---- rounds ----

  /** Marks a round done: every part of every delta it took on is in its documents. */
  async markRoundDone(round: string, nowMs: number): Promise<void> {
    try {
      await this.roundsDone.insertOne({ _id: round, atMs: nowMs });
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
    }
  }

  /** Of `rounds`, those marked done (one `{_id: {$in}}` read). */
  async doneRounds(rounds: readonly string[]): Promise<Set<string>> {
    const done = new Set<string>();
    for (let i = 0; i < rounds.length; i += 500) {
      for (const doc of await this.roundsDone.find({ _id: { $in: rounds.slice(i, i + 500) } }, { projection: { _id: 1 } }).toArray()) done.add(doc._id);
    }
    return done;
  }

  /**
   * One run of the rounds' garbage collection: deletes the marks made before `cutoffMs` that no send lists
   * any more. A send lists a round from before the mark was made (the send is written, then its deltas
   * applied, then the round marked), and keeps listing it until a write drops the confirmed delta; so a
   * mark made before this run began that the scan below does not find is listed by no send, and never
   * will be. `cutoffMs` lies an hour back (the rule's lifetime), which leaves room for instances' clocks
   * disagreeing on when a mark was made. Reads every send with a delta listed (a scan on FerretDB).
   */
  async sweepRoundMarks(cutoffMs: number, limits: SweepLimits): Promise<SweepResult> {
    const limit = limits.pageSize * limits.pages * 25; // marks are small; a run may go through many
    const candidates = await this.roundsDone.find({ atMs: { $lt: cutoffMs } }, { projection: { _id: 1 }, limit }).toArray();
    if (candidates.length === 0) return { deleted: 0, more: false };
    const listed = new Set<string>();
    const sends = this.sends.find({ "pending.0": { $exists: true } }, { projection: { pending: 1 }, batchSize: limits.pageSize });
    for await (const page of pagesOf(sends, limits.pageSize)) {
      for (const doc of page) for (const delta of (doc.pending as PendingDelta[]) ?? []) for (const round of delta.rounds ?? []) listed.add(round);
    }
    const deleted = await deleteEach(this.roundsDone, candidates.filter((doc) => !listed.has(doc._id)).map((doc) => ({ _id: doc._id })));
    return { deleted, more: candidates.length === limit && deleted > 0 };
  }

  // ---- sends ----

  /** The send document, or null. */
  async getSend(workspaceId: string, emailId: string): Promise<SendRecord | null> {
    const doc = await this.sends.findOne({ _id: sendDocId(workspaceId, emailId) });
    return doc ? toSend(doc) : null;
  }

  /** Several sends as the database holds them now (never a copy), in order; null for a send never seen. */
  async getSendsNow(keys: readonly { workspaceId: string; emailId: string }[]): Promise<(SendRecord | null)[]> {
    const docs = await this.readMany(keys.map(({ workspaceId, emailId }) => {
      const id = sendDocId(workspaceId, emailId);
      return { collection: this.sends, id, key: `${this.sends.collectionName}:${id}` };
    }), false);
    return docs.map((doc) => (doc ? toSend(doc) : null));
  }

  /** One atomic write of a send (see SendChange). Returns the document as stored after. */
  async updateSend(workspaceId: string, emailId: string, decide: SendChange["decide"]): Promise<SendRecord | null> {
    return (await this.updateSends([{ workspaceId, emailId, decide }]))[0]!;
  }

  /**
   * The writes of several different sends, in one bulk write; each send as stored after, in order.
   *
   * A send document lists only its latest applied causes: when a write takes it past `appliedKeptLimit`,
   * the causes it already listed are first recorded in `stats_applied` and then dropped from it. A send
   * that did so (`appliedMoved`) is shown to `decide` with those of the change's `causes` found there,
   * looked up after the document was read: a cause dropped before that read was recorded before it, and
   * one dropped after it makes this write lose its version guard.
   */
  async updateSends(changes: readonly SendChange[]): Promise<(SendRecord | null)[]> {
    const results = await this.mutateMany(
      this.sends,
      changes.map(({ workspaceId, emailId, causes = [], decide }) => ({
        id: sendDocId(workspaceId, emailId),
        decide: async (doc) => {
          const stored = doc ? toSend(doc) : null;
          const listed = new Set(stored?.applied);
          const moved = doc?.appliedMoved === true ? await this.appliedElsewhere(workspaceId, emailId, causes.filter((cause) => !listed.has(cause))) : [];
          const write = await decide(stored && { ...stored, applied: [...stored.applied, ...moved] });
          if (!write) return null;
          const shown = new Set([...listed, ...moved]);
          const added = write.applied.filter((cause) => !shown.has(cause));
          let applied = [...(stored?.applied ?? []), ...added];
          let appliedMoved = doc?.appliedMoved === true;
          const movable = (stored?.applied ?? []).filter((cause) => cause !== "record");
          if (applied.length > appliedKeptLimit && movable.length > 0) {
            // Only causes the stored document lists: the ones this write adds are not applied until it wins.
            await this.recordApplied(workspaceId, emailId, movable);
            applied = [...(stored?.applied ?? []).filter((cause) => cause === "record"), ...added];
            appliedMoved = true;
          }
          return { workspaceId, emailId, campaignId: write.state.campaignId, ...write, applied, ...(appliedMoved ? { appliedMoved } : {}), updatedAtMs: Date.now() };
        },
      })),
    );
    return results.map((result) => (result.doc ? toSend(result.doc) : null));
  }

  /** Of `causes` of a send, those recorded in `stats_applied` for it. */
  private async appliedElsewhere(workspaceId: string, emailId: string, causes: readonly string[]): Promise<string[]> {
    const found: string[] = [];
    for (let i = 0; i < causes.length; i += 500) {
      const ids = causes.slice(i, i + 500).map((cause) => `${workspaceId}:${cause}`);
      for (const doc of await this.applied.find({ _id: { $in: ids } }).toArray()) {
        if (doc.emailId === emailId) found.push(doc._id.slice(workspaceId.length + 1));
      }
    }
    return found;
  }

  /** Records applied causes of a send (a cause recorded before is left as it is). */
  private async recordApplied(workspaceId: string, emailId: string, causes: readonly string[]): Promise<void> {
    try {
      await this.applied.insertMany(causes.map((cause) => ({ _id: `${workspaceId}:${cause}`, emailId })), { ordered: false });
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
    }
  }

  /** Sends of a campaign (scans on FerretDB; used by recounts and tests, never on the hot path). */
  async sendsOfCampaign(workspaceId: string, campaignId: string): Promise<SendRecord[]> {
    const docs = await this.sends.find({ workspaceId, campaignId }).toArray();
    return docs.map(toSend);
  }

  /**
   * One retention run: deletes the state of sends last written before `cutoffMs`, with the causes they
   * moved to `stats_applied` (those first: a run stopped half-way leaves the send, found again next time).
   * Never a send listing a delta no done round confirms (maybe not yet in its campaign documents: deleting
   * it would lose the delta), nor one `keep` names, and each only if its version is still the one read. Campaign, hour and link
   * documents are never written here: they hold sums, which the state of the sends under them is not part
   * of. A send written before documents had `updatedAtMs` gets `nowMs` instead, and so its full lifetime.
   */
  async sweepExpiredSends(cutoffMs: number, limits: SweepLimits, nowMs: number, keep: (workspaceId: string, emailId: string) => boolean): Promise<SweepResult> {
    const limit = limits.pageSize * limits.pages;
    // One read for both (on FerretDB each read decodes the collection up to its last match).
    const found = this.sends.find(
      { $or: [{ updatedAtMs: { $lt: cutoffMs } }, { updatedAtMs: { $exists: false } }] },
      { projection: { _id: 1, workspaceId: 1, emailId: 1, v: 1, appliedMoved: 1, updatedAtMs: 1, pending: 1 }, limit, batchSize: limits.pageSize },
    );
    let read = 0;
    let changed = 0;
    let deleted = 0;
    for await (const page of pagesOf(found, limits.pageSize)) {
      read += page.length;
      const unstamped = page.filter((doc) => typeof doc.updatedAtMs !== "number");
      const expired = page.filter((doc) => typeof doc.updatedAtMs === "number" && !keep(doc.workspaceId as string, doc.emailId as string));
      const unconfirmed = await this.unconfirmedDeltas(expired.map((doc) => (doc.pending as PendingDelta[] | undefined) ?? []));
      const going = expired.filter((_doc, index) => unconfirmed[index]!.length === 0);
      if (unstamped.length > 0) {
        const stamped = await this.sends.bulkWrite(
          unstamped.map((doc) => ({ updateOne: { filter: { _id: doc._id, updatedAtMs: { $exists: false } }, update: { $set: { updatedAtMs: nowMs } } } })),
          { ordered: false },
        );
        changed += stamped.modifiedCount;
      }
      await this.deleteMovedCauses(going.filter((doc) => doc.appliedMoved === true));
      // The version read: a send written since (a new delta, say) stays.
      const gone = await deleteEach(this.sends, going.map((doc) => ({ _id: doc._id, v: doc.v })));
      for (const doc of going) this.recentDocs.delete(`${this.sends.collectionName}:${doc._id}`);
      deleted += gone;
      changed += gone;
    }
    return { deleted, more: read === limit && changed > 0 };
  }

  /** For each list of a send's deltas, those no done round confirms (one read of the rounds for all). */
  async unconfirmedDeltas(lists: readonly (readonly PendingDelta[])[], knownDone: (round: string) => boolean = () => false): Promise<PendingDelta[][]> {
    const asked = [...new Set(lists.flat().flatMap((delta) => delta.rounds ?? []).filter((round) => !knownDone(round)))];
    const done = asked.length === 0 ? new Set<string>() : await this.doneRounds(asked);
    return lists.map((deltas) => deltas.filter((delta) => !(delta.rounds ?? []).some((round) => knownDone(round) || done.has(round))));
  }

  /** Deletes what these sends moved to `stats_applied` (a scan there on FerretDB; by index on MongoDB). */
  private async deleteMovedCauses(sends: readonly Stored[]): Promise<void> {
    if (sends.length === 0) return;
    const going = new Set(sends.map((doc) => sendDocId(doc.workspaceId as string, doc.emailId as string)));
    const emailIds = [...new Set(sends.map((doc) => doc.emailId as string))];
    const entries = await this.applied.find({ emailId: { $in: emailIds } }, { projection: { _id: 1, emailId: 1 } }).toArray();
    // `_id` is `<workspace>:svix:<id>`: the workspace is before its first ":".
    const ofGoing = entries.filter((entry) => going.has(`${entry._id.slice(0, entry._id.indexOf(":"))}:${entry.emailId}`));
    await deleteEach(this.applied, ofGoing.map(({ _id, emailId }) => ({ _id, emailId })));
  }

  // ---- campaign, hour and link documents ----

  /**
   * Applies parts of deltas, each to its document unless that document already applied the delta (`ref`
   * in `recent`): one write per document however many parts it takes, one bulk write per collection
   * (the collections at once). Drops from `recent` the refs `isDone` confirms. Campaign parts
   * also move the alert state, evaluated on the document's new totals, and may add alerts to the outbox.
   * Returns the campaign documents touched.
   *
   * Why `stillPending` is asked after the documents are read: a document forgets a ref once the delta is
   * done, and another instance may still hold a stale copy of the send with that delta pending. A ref the
   * document does not hold is applied only if its send, read after the document, still has it pending:
   * then it was not finished (so not forgotten) when the document was read, and the version guard
   * proves the document did not change since.
   *
   * The calls made while one is under way are applied together, in the next round (apply-rounds.ts):
   * each gets the campaign and day documents its own parts touched.
   */
  async applyParts(parts: readonly PartToApply[], options: ApplyPartsOptions): Promise<TouchedDocuments> {
    return await this.rounds.apply({ parts, options });
  }

  private async applyPartsNow(parts: readonly PartToApply[], options: ApplyPartsOptions): Promise<TouchedDocuments> {
    const byDocument = new Map<string, PartsOfDocument>();
    for (const entry of parts) {
      const { collection, id } = this.target(entry.workspaceId, entry.part);
      const key = `${collection.collectionName}:${id}`;
      const group = byDocument.get(key) ?? { collection, id, key, workspaceId: entry.workspaceId, kind: entry.part.kind, parts: [] };
      group.parts.push(entry);
      byDocument.set(key, group);
    }
    const groups = [...byDocument.values()];
    const touched: TouchedCampaign[] = [];
    const touchedDays: TouchedDay[] = [];
    await this.locks.runAll(byDocument.keys(), async () => {
      const docs = await this.readMany(groups, true);
      const pending = await this.confirmPending(groups, docs, options);
      // The collections are written at once: each document's write depends only on its own read and on the
      // confirmation above, never on another collection's write. All settle before the locks are let go.
      await settleAll(partKinds.map(async (kind) => {
        const ofKind = groups.flatMap((group, index) => (group.kind === kind ? [{ group, doc: docs[index]! }] : []));
        if (ofKind.length === 0) return;
        const decide = (group: PartsOfDocument, doc: Stored | null, confirmed: ReadonlySet<string>) =>
          fieldsAfterParts(
            doc,
            group.workspaceId,
            group.parts.filter((entry) => confirmed.has(`${group.workspaceId}:${entry.ref}`)),
            (ref) => options.isDone(group.workspaceId, ref),
            options.alertSettings,
            options.now,
            options.limits,
          );
        const collection = ofKind[0]!.group.collection;
        let results: { doc: Stored | null; written: boolean }[] | undefined;
        let current: (Stored | null)[] = ofKind.map(({ doc }) => doc);
        let confirmed = pending;
        for (let attempt = 0; !results; attempt++) {
          try {
            results = await this.writeDecided(collection, ofKind.map(({ group }, index) => ({ key: group.key, id: group.id, doc: current[index]!, set: decide(group, current[index]!, confirmed) })));
          } catch (error) {
            if (!(error instanceof GuardLost) && !isDuplicateKeyError(error)) throw error;
            if (attempt === 49) throw new UnavailableError(`too much write contention on ${collection.collectionName}`);
            // Another instance wrote some of these documents (the bulk write says not which): the whole group
            // again from fresh reads, in one bulk write; the ones already written take nothing more.
            for (const { group } of ofKind) this.recentDocs.markShared(group.key);
            current = await this.readMany(ofKind.map(({ group }) => group), false);
            confirmed = await this.confirmPending(ofKind.map(({ group }) => group), current, options);
          }
        }
        ofKind.forEach(({ group }, index) => {
          const first = group.parts[0]!.part;
          const outbox = results![index]!.doc?.outbox;
          if (first.kind === "campaign") touched.push({ workspaceId: group.workspaceId, campaignId: first.campaignId, outbox: (outbox as PendingAlert[] | undefined) ?? [] });
          if (first.kind === "day") touchedDays.push({ workspaceId: group.workspaceId, day: first.day, outbox: (outbox as PendingLimitAlert[] | undefined) ?? [] });
        });
        await options.afterWrite?.(kind);
      }));
    });
    return { campaigns: touched, days: touchedDays };
  }

  /** The refs (`ws:ref`) that `stillPending` confirms among those the documents have not applied. */
  private async confirmPending(groups: readonly PartsOfDocument[], docs: readonly (Stored | null)[], options: ApplyPartsOptions): Promise<ReadonlySet<string>> {
    const unapplied = new Map<string, { workspaceId: string; ref: string }>();
    groups.forEach((group, index) => {
      const recent = new Set((docs[index]?.recent as string[] | undefined) ?? []);
      for (const { ref } of group.parts) {
        if (!recent.has(ref) || options.isDone(group.workspaceId, ref)) unapplied.set(`${group.workspaceId}:${ref}`, { workspaceId: group.workspaceId, ref });
      }
    });
    return unapplied.size === 0 ? new Set() : await options.stillPending([...unapplied.values()]);
  }

  /** Removes published alerts from a campaign's outbox. */
  async removeFromOutbox(workspaceId: string, campaignId: string, published: PendingAlert[]): Promise<void> {
    const done = new Set(published.map((alert) => `${alert.kind}:${alert.crossing}`));
    await this.mutate(this.campaigns, {
      id: campaignDocId(workspaceId, campaignId),
      decide: (doc) => {
        const outbox = (doc?.outbox as PendingAlert[] | undefined) ?? [];
        const remaining = outbox.filter((alert) => !done.has(`${alert.kind}:${alert.crossing}`));
        return doc && remaining.length !== outbox.length ? { outbox: remaining, hasOutbox: remaining.length > 0 } : null;
      },
    });
  }

  /** Removes published bulk-sender crossings from a workspace-day's outbox. */
  async removeFromDayOutbox(workspaceId: string, day: number, published: readonly PendingLimitAlert[]): Promise<void> {
    const done = new Set(published.map((alert) => limitAlertMessageId(workspaceId, alert)));
    await this.mutate(this.days, {
      id: dayDocId(workspaceId, day),
      decide: (doc) => {
        const outbox = (doc?.outbox as PendingLimitAlert[] | undefined) ?? [];
        const remaining = outbox.filter((alert) => !done.has(limitAlertMessageId(workspaceId, alert)));
        return doc && remaining.length !== outbox.length ? { outbox: remaining, hasOutbox: remaining.length > 0 } : null;
      },
    });
  }

  /**
   * Workspace-days with bulk-sender crossings not yet published (run by the sweeper only): by the
   * `hasOutbox` flag every write of the outbox sets (an index search), or with `scan` by the outbox
   * itself (reads every day document on FerretDB; finds those written before the flag existed).
   */
  async daysWithOutbox({ scan = false }: { scan?: boolean } = {}): Promise<TouchedDay[]> {
    const docs = await this.days.find(outboxFilter(scan), { projection: { workspaceId: 1, day: 1, outbox: 1 } }).toArray();
    return docs.filter((doc) => (doc.outbox as unknown[] | undefined)?.length).map((doc) => ({ workspaceId: doc.workspaceId as string, day: doc.day as number, outbox: doc.outbox as PendingLimitAlert[] }));
  }

  /** Campaigns with alerts not yet published (run by the sweeper only; `scan` as for daysWithOutbox). */
  async campaignsWithOutbox({ scan = false }: { scan?: boolean } = {}): Promise<CampaignRecord[]> {
    const docs = await this.campaigns.find(outboxFilter(scan), { projection: { recent: 0 } }).toArray();
    return docs.filter((doc) => (doc.outbox as unknown[] | undefined)?.length).map(toCampaign);
  }

  /** Documents holding `recent` refs, with when each was last written (a scan; run by the sweeper only). */
  async documentsWithRecent(): Promise<{ kind: PartKind; id: string; workspaceId: string; recent: string[]; updatedAt: number | null }[]> {
    const found: { kind: PartKind; id: string; workspaceId: string; recent: string[]; updatedAt: number | null }[] = [];
    for (const kind of partKinds) {
      const collection = this.collectionOf(kind);
      const docs = await collection.find({ "recent.0": { $exists: true } }, { projection: { recent: 1, workspaceId: 1, updatedAt: 1 } }).toArray();
      for (const doc of docs) {
        found.push({ kind, id: doc._id, workspaceId: doc.workspaceId as string, recent: doc.recent as string[], updatedAt: (doc.updatedAt as number | undefined) ?? null });
      }
    }
    return found;
  }

  /** Drops the `recent` refs `isDone` confirms from one document. */
  async pruneRecent(kind: PartKind, id: string, isDone: (ref: string) => boolean): Promise<void> {
    const collection = this.collectionOf(kind);
    await this.mutate(collection, {
      id,
      decide: (doc) => {
        const recent = (doc?.recent as string[] | undefined) ?? [];
        const kept = recent.filter((entry) => !isDone(entry));
        return doc && kept.length !== recent.length ? { recent: kept } : null;
      },
    });
  }

  // ---- queries ----

  /** One campaign's totals (null if never seen). */
  async getCampaign(workspaceId: string, campaignId: string): Promise<CampaignRecord | null> {
    const doc = await this.campaigns.findOne({ _id: campaignDocId(workspaceId, campaignId) }, { projection: { recent: 0 } });
    return doc ? toCampaign(doc) : null;
  }

  /** Hour buckets that exist among the given hours, by `_id` lookups. */
  async getHours(workspaceId: string, campaignId: string, hours: number[]): Promise<HourRecord[]> {
    const found: HourRecord[] = [];
    for (let i = 0; i < hours.length; i += 48) {
      const batch = await Promise.all(
        hours.slice(i, i + 48).map((hour) => this.hours.findOne({ _id: hourDocId(workspaceId, campaignId, hour) })),
      );
      for (const doc of batch) if (doc) found.push({ hour: doc.hour as number, counts: countsOf(doc) });
    }
    return found;
  }

  /** The workspace-day documents that exist among the given days, as counts per provider; one `{_id: {$in}}` query. */
  async getDays(workspaceId: string, days: readonly number[]): Promise<Map<number, ProviderCounts>> {
    const found = new Map<number, ProviderCounts>();
    const docs = await this.days.find({ _id: { $in: days.map((day) => dayDocId(workspaceId, day)) } }, { projection: { day: 1, byProvider: 1 } }).toArray();
    for (const doc of docs) found.set(doc.day as number, providerCountsOf(doc.byProvider));
    return found;
  }

  /** Links with at least one click, ascending by link, after `afterLink`. Scans on FerretDB; indexed on MongoDB. */
  async listLinks(workspaceId: string, campaignId: string, afterLink: string | undefined, limit: number): Promise<LinkRecord[]> {
    const filter: Document = { workspaceId, campaignId, clicks: { $gt: 0 } };
    if (afterLink !== undefined) filter.link = { $gt: afterLink };
    const docs = await this.links.find(filter).sort({ link: 1 }).limit(limit).toArray();
    return docs.map((doc) => ({
      link: doc.link as string,
      clicks: (doc.clicks as number) ?? 0,
      uniqueClicks: (doc.uniqueClicks as number) ?? 0,
      scannerClicks: (doc.scannerClicks as number) ?? 0,
      firstClickAt: (doc.firstClickAt as number | null) ?? null,
      lastClickAt: (doc.lastClickAt as number | null) ?? null,
    }));
  }

  // ---- internals ----

  private collectionOf(kind: PartKind): Collection<Stored> {
    return { campaign: this.campaigns, hour: this.hours, link: this.links, day: this.days }[kind];
  }

  private target(workspaceId: string, part: ContributionPart): { collection: Collection<Stored>; id: string } {
    if (part.kind === "campaign") return { collection: this.campaigns, id: campaignDocId(workspaceId, part.campaignId) };
    if (part.kind === "hour") return { collection: this.hours, id: hourDocId(workspaceId, part.campaignId, part.hour) };
    if (part.kind === "day") return { collection: this.days, id: dayDocId(workspaceId, part.day) };
    return { collection: this.links, id: linkDocId(workspaceId, part.campaignId, part.link) };
  }

  /**
   * Read, decide, write one document under its lock and version guard.
   *
   * The read comes from `recentDocs` when this process wrote or read the document last: an event touches
   * its send twice and its campaign and hour documents every time, and on FerretDB each read is a round
   * trip costing database CPU (the end-to-end benchmark's bound). A cached copy is as fresh as the
   * database while this instance is the only writer; when another instance wrote, the stale copy fails
   * the version guard and is read again. A write whose outcome is unknown (an error) drops the copy.
   */
  private async mutate(collection: Collection<Stored>, change: DocumentChange): Promise<{ doc: Stored | null; written: boolean }> {
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        return (await this.writeOnce(collection, [change], attempt === 0))[0]!;
      } catch (error) {
        if (!(error instanceof GuardLost) && !isDuplicateKeyError(error)) throw error;
        this.recentDocs.markShared(`${collection.collectionName}:${change.id}`);
      }
    }
    throw new UnavailableError(`too much write contention on ${collection.collectionName} ${change.id}`);
  }

  /**
   * mutate for several different documents of one collection, with one `bulkWrite` for the writes:
   * FerretDB's cost is per document either way, so what a batch saves is the documents it does not write
   * (sends sharing a campaign write it once) and the round trips. A lost version guard (another instance
   * wrote, MongoDB only) redoes each entry alone with mutate; every decide is idempotent (a svix id or
   * delta ref already applied changes nothing).
   */
  private async mutateMany(collection: Collection<Stored>, changes: readonly DocumentChange[]): Promise<{ doc: Stored | null; written: boolean }[]> {
    try {
      return await this.writeOnce(collection, changes, true);
    } catch (error) {
      if (!(error instanceof GuardLost) && !isDuplicateKeyError(error)) throw error;
      return await mapLimited(changes, 16, (change) => this.mutate(collection, change));
    }
  }

  /**
   * One read-decide-write of different documents, holding all their locks: reads from `recentDocs` when
   * `fromCache`, one `bulkWrite`; throws GuardLost (or a duplicate key error) when a version guard lost.
   */
  private async writeOnce(
    collection: Collection<Stored>,
    changes: readonly DocumentChange[],
    fromCache: boolean,
  ): Promise<{ doc: Stored | null; written: boolean }[]> {
    const keys = changes.map((change) => `${collection.collectionName}:${change.id}`);
    if (new Set(keys).size !== keys.length) throw new Error("one change per document");
    return await this.locks.runAll(keys, async () => {
      const current = await this.readMany(changes.map((change, index) => ({ collection, id: change.id, key: keys[index]! })), fromCache);
      return await this.writeDecided(
        collection,
        await Promise.all(changes.map(async (change, index) => ({ key: keys[index]!, id: change.id, doc: current[index]!, set: await change.decide(current[index]!) }))),
      );
    });
  }

  /**
   * Documents of possibly several collections, in order: from `recentDocs` when allowed, the others with
   * one `{_id: {$in}}` query per collection (one SQL lookup by `_id` on the local FerretDB, patched for it).
   */
  private async readMany(targets: readonly { collection: Collection<Stored>; id: string; key: string }[], fromCache: boolean): Promise<(Stored | null)[]> {
    const found = new Map<string, Stored>();
    const missing = new Map<Collection<Stored>, string[]>();
    for (const { collection, id, key } of targets) {
      const cached = fromCache ? this.recentDocs.get(key) : undefined;
      if (cached) found.set(key, cached);
      else missing.set(collection, [...(missing.get(collection) ?? []), id]);
    }
    // One collection's reads do not wait for another's.
    await Promise.all(
      [...missing].map(async ([collection, ids]) => {
        for (let i = 0; i < ids.length; i += 500) {
          for (const doc of await collection.find({ _id: { $in: ids.slice(i, i + 500) } }).toArray()) found.set(`${collection.collectionName}:${doc._id}`, doc);
        }
      }),
    );
    return targets.map(({ key }) => found.get(key) ?? null);
  }

  /**
   * Writes the decided fields of documents read before (their locks held), each guarded by the version
   * read, in one `bulkWrite`; null fields: nothing to write. Throws GuardLost when a guard lost.
   */
  private async writeDecided(
    collection: Collection<Stored>,
    entries: readonly { key: string; id: string; doc: Stored | null; set: Document | null }[],
  ): Promise<{ doc: Stored | null; written: boolean }[]> {
    const results: { doc: Stored | null; written: boolean }[] = [];
    const writes: AnyBulkWriteOperation<Stored>[] = [];
    for (const { key, id, doc, set: decided } of entries) {
      if (!decided) {
        if (doc) this.recentDocs.set(key, doc);
        results.push({ doc, written: false });
        continue;
      }
      const { _id: _ignoredId, v: _ignoredVersion, ...set } = decided;
      const filter: Document = { _id: id };
      if (this.versionGuard) filter.v = doc ? doc.v : { $exists: false };
      writes.push({ updateOne: { filter, update: { $set: set, $inc: { v: 1 } }, upsert: true } });
      this.recentDocs.delete(key);
      results.push({ doc: { ...(doc ?? {}), ...set, _id: id, v: ((doc?.v as number | undefined) ?? 0) + 1 }, written: true });
    }
    if (writes.length > 0) {
      const outcome = await collection.bulkWrite(writes, { ordered: false });
      if (outcome.matchedCount + outcome.upsertedCount !== writes.length) throw new GuardLost();
    }
    entries.forEach(({ key }, index) => results[index]!.written && this.recentDocs.set(key, results[index]!.doc!));
    return results;
  }
}

/** How long a document that lost a version guard is read from the database instead of from its copy. */
const sharedForMs = 10_000;

/** A bounded map that forgets the least recently set entry first. */
class RecentDocuments {
  readonly #docs = new Map<string, Stored>();
  /** Documents another instance wrote lately, until when: a copy of them is likely stale, so none is served. */
  readonly #shared = new Map<string, number>();
  readonly #limit: number;
  constructor(limit: number) {
    this.#limit = limit;
  }
  get(key: string): Stored | undefined {
    const sharedUntil = this.#shared.get(key);
    if (sharedUntil !== undefined) {
      if (sharedUntil > Date.now()) return undefined;
      this.#shared.delete(key);
    }
    return this.#docs.get(key);
  }
  /** Serves no copy of the document for a while (its version guard just lost to another writer). */
  markShared(key: string): void {
    this.#shared.delete(key);
    this.#shared.set(key, Date.now() + sharedForMs);
    if (this.#shared.size > this.#limit) this.#shared.delete(this.#shared.keys().next().value!);
  }
  set(key: string, doc: Stored): void {
    this.#docs.delete(key);
    this.#docs.set(key, doc);
    if (this.#docs.size > this.#limit) this.#docs.delete(this.#docs.keys().next().value!);
  }
  delete(key: string): void {
    this.#docs.delete(key);
  }
}

function toSend(doc: Stored): SendRecord {
  return {
    workspaceId: doc.workspaceId as string,
    emailId: doc.emailId as string,
    v: (doc.v as number | undefined) ?? 0,
    state: upgradeSendState(doc.state as StoredSendState),
    contrib: (doc.contrib as ContributionPart[] | undefined) ?? [],
    pending: (doc.pending as PendingDelta[] | undefined) ?? [],
    applied: (doc.applied as string[] | undefined) ?? [],
  };
}

function toCampaign(doc: Stored): CampaignRecord {
  return {
    workspaceId: doc.workspaceId as string,
    campaignId: doc.campaignId as string,
    counts: countsOf(doc),
    byProvider: providerCountsOf(doc.byProvider),
    updatedAt: (doc.updatedAt as number | undefined) ?? null,
    alerts: (doc.alerts as AlertState | undefined) ?? initialAlertState(),
    outbox: (doc.outbox as PendingAlert[] | undefined) ?? [],
  };
}

/** The documents holding an outbox: by its flag (an index search), or by the outbox itself (a scan). */
const outboxFilter = (scan: boolean): Document => (scan ? { "outbox.0": { $exists: true } } : { hasOutbox: true });

/** Waits for every promise to settle, then rejects with the first failure, if any. */
async function settleAll(promises: readonly Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(promises)).find((outcome) => outcome.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
}
