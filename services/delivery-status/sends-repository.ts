/**
 * Storage of send records and their timelines. Hides the MongoDB driver and
 * returns plain objects.
 *
 * - `delivery_sends`, `_id: "<workspace>:<email id>"`: the registration, the
 *   compact facts of the distinct events (deduplicated by svix id) — all of
 *   them up to 100, past that the ones that decide its state, with the counts
 *   of the retired others (send-retirement.ts) — the projected state (plus
 *   top-level copies of the fields list queries filter on), a `version` for
 *   optimistic concurrency, and the SendRecorded outbox flag.
 * - `delivery_timeline`, `_id: "<workspace>:<svix id>"`: one full timeline
 *   entry per distinct event (click link, user agent, bounce text, ...),
 *   written before the event is folded into its send; `folded: true` once the
 *   fact left the send document, which makes the entry what recognises a
 *   redelivery of that event from then on.
 * - `delivery_timeline_pages`, `_id: "<workspace>:<email id>:<n>"`: the svix
 *   ids and event times of the facts a send retired (page n written by its
 *   n+1-th retirement), so its timeline is still read by `_id` only.
 *
 * A send and its timeline live SENDS_RETENTION_DAYS after the send's last
 * change (`updatedAtMs`) and then go together (sweepExpired).
 *
 * An erased send (erasure/) keeps its `erased` mark for good (no write unsets
 * it) and no longer matches the subscriber queries (`listBySubscriber`).
 */
import type { AnyBulkWriteOperation, Collection, Db } from "mongodb";
import { mapLimited } from "../shared/map-limited.ts";
import { ensureIndexes, isDuplicateKeyError } from "../shared/mongo.ts";
import { deleteEach, pagesOf, type SweepLimits, type SweepResult } from "../shared/retention.ts";
import { appliedEventTypes, normaliseAddress, noneRetired, type BounceDetail, type EventFact, type RetiredCounts, type Registration, type SendState, type StatusName } from "./send-projection.ts";

/** A send document as the use cases see it. */
export interface StoredSend {
  workspaceId: string;
  emailId: string;
  version: number;
  registration?: Registration;
  /** The facts the document keeps (all of them until it first retired some). */
  facts: EventFact[];
  /** Counts of the facts it retired. */
  retired: RetiredCounts;
  /** How many timeline pages list retired facts (0: the document keeps every fact). */
  timelinePages: number;
  state: SendState;
  updatedAtMs: number;
  /** Outbox: SendRecorded not yet published. */
  pendingSendRecorded: boolean;
  /** The subscriber's personal data was erased from it (erasure/): which erasure, when. */
  erased?: ErasureMark;
}

/** Which erasure erased a send, and when (server clock). */
export interface ErasureMark {
  erasureId: string;
  atMs: number;
}

/** Whose sends: any of the normalised addresses, or the subscriber id. */
export interface SubscriberMatch {
  emails: readonly string[];
  subscriberId?: string;
}

/** The detail fields of a timeline entry that can hold personal data. */
export type TimelineDetail = Pick<TimelineEntry, "click" | "bounce" | "failed" | "suppressed">;

/** One entry of a send's timeline. */
export interface TimelineEntry {
  workspaceId: string;
  emailId: string;
  svixId: string;
  type: string;
  eventAtUs: number;
  receivedAtUs: number;
  /** The provider's own event type ("dropped", "Bounce"); absent for Resend and on entries stored before providers. */
  providerType?: string;
  /** Bounce detail; `providerType`/`smtpStatus` absent for Resend and on entries stored before providers. */
  bounce?: BounceDetail;
  click?: { link: string; ipAddress: string; userAgent: string; timestampUs?: number };
  failed?: { reason: string };
  suppressed?: { type: string; message: string };
  /** A reconciliation reconstructed the event (its time is the send time, its received time the run's observation). */
  reconstructed?: true;
}

/** Position after the last timeline entry of a page. */
export type TimelineCursor = [eventAtUs: number, receivedAtUs: number, svixId: string];

interface SendDocument {
  _id: string;
  workspaceId: string;
  emailId: string;
  version: number;
  registration?: Registration;
  facts: EventFact[];
  /** Absent on documents that never retired a fact (and on those written before retirement existed). */
  retired?: RetiredCounts;
  timelinePages?: number;
  state: SendState;
  campaignId: string;
  subscriberId: string;
  status: StatusName;
  /**
   * The recipient normalised (trimmed, domain lower-cased), "" when none: what a query by address
   * matches. Absent on documents last written before it existed (`listBySubscriber` reads those too).
   */
  recipientKey?: string;
  updatedAtMs: number;
  pendingSendRecorded?: boolean;
  erased?: ErasureMark;
}

interface TimelineDocument extends TimelineEntry {
  _id: string;
  /** The event's fact was folded into its send and then retired from the send document. */
  folded?: boolean;
}

/** An event of a send as its document or a timeline page lists it. */
export interface TimelineRef {
  svixId: string;
  atUs: number;
}

interface TimelinePageDocument {
  _id: string;
  workspaceId: string;
  emailId: string;
  page: number;
  refs: TimelineRef[];
}

/** Omits undefined fields instead of storing nulls. */
const writeOptions = { ignoreUndefined: true } as const;

/** `<workspace>:<key>`; a workspace id never contains ":", so the pair is unambiguous. */
export const sendKey = (workspaceId: string, emailId: string) => `${workspaceId}:${emailId}`;
const timelineKey = (workspaceId: string, svixId: string) => `${workspaceId}:${svixId}`;
/** The page number comes last and has no ":", so the key stays unambiguous whatever the email id holds. */
const pageKey = (workspaceId: string, emailId: string, page: number) => `${sendKey(workspaceId, emailId)}:${page}`;
/** `$in` lists are sent in chunks of this many ids. */
const inChunk = 500;
const typeOfKind = Object.fromEntries(Object.entries(appliedEventTypes).map(([type, kind]) => [kind, type])) as Record<EventFact["kind"], string>;

/** One send write of `writeMany`. */
export interface SendWrite {
  send: StoredSend;
  /** The version read; undefined for a new send. */
  expectedVersion?: number;
  /** Set the SendRecorded outbox flag in the same write. */
  markSendRecordedPending: boolean;
}

/** The repository of this service's two collections. */
export class SendsRepository {
  readonly #sends: Collection<SendDocument>;
  readonly #timeline: Collection<TimelineDocument>;
  readonly #pages: Collection<TimelinePageDocument>;

  constructor(db: Db) {
    this.#sends = db.collection<SendDocument>("delivery_sends");
    this.#timeline = db.collection<TimelineDocument>("delivery_timeline");
    this.#pages = db.collection<TimelinePageDocument>("delivery_timeline_pages");
  }

  /**
   * One index per query path (FerretDB accepts them; MongoDB uses them). Only missing ones are
   * created, one per command and race-safe (shared ensureIndexes): FerretDB v1 drops the connection
   * when asked to create an index that exists (seen when a second instance starts).
   */
  async ensureIndexes(): Promise<void> {
    await ensureIndexes(this.#sends, [
      // ListSends without a status or subscriber: a page in email id order straight from the index (on MongoDB,
      // and on the local FerretDB, whose patch 10 reads the first N by it), not a sort of the whole campaign.
      { key: { workspaceId: 1, campaignId: 1, emailId: 1 }, name: "list_by_campaign" },
      { key: { workspaceId: 1, campaignId: 1, status: 1, emailId: 1 }, name: "list_by_campaign_status" },
      { key: { workspaceId: 1, campaignId: 1, subscriberId: 1, emailId: 1 }, name: "list_by_campaign_subscriber" },
      { key: { pendingSendRecorded: 1 }, name: "outbox_pending", sparse: true },
      { key: { workspaceId: 1, emailId: 1 }, name: "reconcile_by_workspace" },
      { key: { updatedAtMs: 1 }, name: "retention_by_update" },
      { key: { workspaceId: 1, recipientKey: 1, emailId: 1 }, name: "by_recipient" },
      { key: { workspaceId: 1, subscriberId: 1, emailId: 1 }, name: "by_subscriber" },
    ]);
    await ensureIndexes(this.#timeline, [
      { key: { workspaceId: 1, emailId: 1, eventAtUs: 1, receivedAtUs: 1, svixId: 1 }, name: "timeline_by_send" },
    ]);
  }

  /** The send, or undefined. */
  async get(workspaceId: string, emailId: string): Promise<StoredSend | undefined> {
    const doc = await this.#sends.findOne({ _id: sendKey(workspaceId, emailId) });
    return doc ? toStored(doc) : undefined;
  }

  /** Several sends by key, in order (16 lookups in flight: FerretDB answers an `_id` lookup per round trip). */
  async getMany(keys: readonly { workspaceId: string; emailId: string }[]): Promise<(StoredSend | undefined)[]> {
    return await mapLimited(keys, 16, ({ workspaceId, emailId }) => this.get(workspaceId, emailId));
  }

  /**
   * Several sends in one bulk write: one without `expectedVersion` is inserted (version 1), the others
   * replace the stored send if its version is still `expectedVersion`. True when every write won; false
   * when any lost to another writer (which ones is not reported: the caller redoes them one by one, as
   * its decisions are idempotent). The outbox flag is only ever set here (never copied back from a read),
   * so a writer holding a stale copy cannot resurrect an entry the publisher cleared.
   */
  async writeMany(writes: readonly SendWrite[]): Promise<boolean> {
    if (writes.length === 0) return true;
    const operations = writes.map(({ send, expectedVersion, markSendRecordedPending }): AnyBulkWriteOperation<SendDocument> => {
      if (expectedVersion === undefined) return { insertOne: { document: toDocument({ ...send, version: 1 }) } };
      const { _id, pendingSendRecorded: _ignored, ...fields } = toDocument({ ...send, version: expectedVersion + 1 });
      const update = { $set: markSendRecordedPending ? { ...fields, pendingSendRecorded: true } : fields };
      return { updateOne: { filter: { _id, version: expectedVersion }, update } };
    });
    try {
      const result = await this.#sends.bulkWrite(operations, { ordered: false, ...writeOptions });
      return result.insertedCount + result.matchedCount === operations.length;
    } catch (error) {
      if (isDuplicateKeyError(error)) return false;
      throw error;
    }
  }

  /**
   * Marks the SendRecorded outbox entry as published: one atomic single-document update (also on the
   * local FerretDB, whose build is patched for it), which no send write undoes, as those never set the
   * flag from a copy they read. Looked up by `_id` in SQL there, the condition applied after.
   */
  async clearPendingSendRecorded(workspaceId: string, emailId: string): Promise<void> {
    await this.#sends.updateOne({ _id: sendKey(workspaceId, emailId), pendingSendRecorded: true }, { $unset: { pendingSendRecorded: "" } });
  }

  /** Sends whose SendRecorded is not yet published (oldest first is not guaranteed). */
  async listPendingSendRecorded(limit: number): Promise<StoredSend[]> {
    const docs = await this.#sends.find({ pendingSendRecorded: true }).limit(limit).toArray();
    return docs.map(toStored);
  }

  /** Stores a timeline entry unless one with the same svix id exists (the first copy wins; a unique _id decides). */
  async putTimelineEntry(entry: TimelineEntry): Promise<void> {
    await this.putTimelineEntries([entry]);
  }

  /**
   * putTimelineEntry for several entries in one `insertMany`. An error other than "already stored" may
   * leave some stored and some not (FerretDB does not say which): callers retry, and a repeat is harmless.
   */
  async putTimelineEntries(entries: readonly TimelineEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const docs = entries.map((entry) => ({ _id: timelineKey(entry.workspaceId, entry.svixId), ...entry }));
    try {
      await this.#timeline.insertMany(docs, { ordered: false, ...writeOptions });
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
    }
  }

  /**
   * Of `svixIds` (events of this send), those whose fact the send folded and then retired: read after the
   * send document, this is what recognises a redelivery once its fact is no longer on the document. A
   * flag is only ever set on an entry whose fact a stored send document held (retireFacts), so a flagged
   * entry was folded; an unflagged one was not folded as of the document read before, or is still on it.
   */
  async foldedEvents(workspaceId: string, emailId: string, svixIds: readonly string[]): Promise<Set<string>> {
    const folded = new Set<string>();
    for (let i = 0; i < svixIds.length; i += inChunk) {
      const ids = svixIds.slice(i, i + inChunk).map((svixId) => timelineKey(workspaceId, svixId));
      const docs = await this.#timeline.find({ _id: { $in: ids } }, { projection: { svixId: 1, emailId: 1, folded: 1 } }).toArray();
      for (const doc of docs) if (doc.folded === true && doc.emailId === emailId) folded.add(doc.svixId);
    }
    return folded;
  }

  /**
   * Before a send write drops `facts` from its document: marks their timeline entries folded and lists
   * them on timeline page `page`. Both are idempotent (a flag; refs listed twice are read once), so a
   * write that then loses its guard leaves nothing wrong: the facts were folded already. An entry that is
   * missing (the timeline is written before the fold, so only if it was deleted) is put back with what the
   * fact knows, so the redelivery of its event is still recognised.
   */
  async retireFacts(workspaceId: string, emailId: string, page: number, facts: readonly EventFact[]): Promise<void> {
    for (let i = 0; i < facts.length; i += inChunk) {
      const chunk = facts.slice(i, i + inChunk);
      const ids = chunk.map((fact) => timelineKey(workspaceId, fact.svixId));
      const flagged = await this.#timeline.updateMany({ _id: { $in: ids } }, { $set: { folded: true } });
      if (flagged.matchedCount === ids.length) continue;
      const found = new Set((await this.#timeline.find({ _id: { $in: ids } }, { projection: { _id: 1 } }).toArray()).map((doc) => doc._id));
      const missing = chunk.filter((fact) => !found.has(timelineKey(workspaceId, fact.svixId)));
      await this.putTimelineEntries(
        missing.map((fact) => ({ workspaceId, emailId, svixId: fact.svixId, type: typeOfKind[fact.kind], eventAtUs: fact.atUs, receivedAtUs: 0, ...(fact.reconstructed ? { reconstructed: true as const } : {}) })),
      );
      await this.#timeline.updateMany({ _id: { $in: missing.map((fact) => timelineKey(workspaceId, fact.svixId)) } }, { $set: { folded: true } });
    }
    const refs = facts.map(({ svixId, atUs }) => ({ svixId, atUs }));
    const append = () =>
      this.#pages.updateOne(
        { _id: pageKey(workspaceId, emailId, page) },
        { $setOnInsert: { workspaceId, emailId, page }, $push: { refs: { $each: refs } } },
        { upsert: true },
      );
    try {
      await append();
    } catch (error) {
      // Two first appends to a page raced; the page exists now, so the second attempt updates it.
      if (!isDuplicateKeyError(error)) throw error;
      await append();
    }
  }

  /**
   * A page of a send's timeline in (event time, received time, svix id) order, read by `_id` from the
   * send's own facts and retired-fact pages (one ref per svix id) rather than by a filter on the timeline
   * collection: FerretDB v1 decodes the whole collection for any filter but an exact `_id`, which made
   * this read grow with every send's events (1.3 s at 20,000 entries, measured by bench/rpc). Only the
   * entries the page can hold are fetched.
   */
  async listTimeline(send: StoredSend, after: TimelineCursor | undefined, limit: number): Promise<TimelineEntry[]> {
    const refs = await this.timelineRefs(send);
    // Refs carry the event time but not the received time that breaks ties, so: every ref at the cursor's
    // event time (some are past the cursor, some not), and the first `limit` later ones with all their ties.
    const atCursor = after ? refs.filter((ref) => ref.atUs === after[0]) : [];
    const later = refs.filter((ref) => !after || ref.atUs > after[0]).sort((a, b) => a.atUs - b.atUs);
    const horizon = later[Math.min(later.length, limit) - 1]?.atUs ?? -Infinity;
    const wanted = [...atCursor, ...later.filter((ref) => ref.atUs <= horizon)];
    const entries = await mapLimited(wanted, 16, (ref) => this.#timeline.findOne({ _id: timelineKey(send.workspaceId, ref.svixId) }));
    return entries
      .filter((doc): doc is TimelineDocument => doc !== null)
      .map(({ _id, folded: _folded, ...entry }) => entry)
      .sort(compareTimeline)
      .filter((entry) => !after || compareTimeline(entry, { eventAtUs: after[0], receivedAtUs: after[1], svixId: after[2] }) > 0)
      .slice(0, limit);
  }

  /** Every event of the send once: the facts on its document and those its timeline pages list. */
  async timelineRefs(send: StoredSend): Promise<TimelineRef[]> {
    const refs = new Map(send.facts.map((fact) => [fact.svixId, fact.atUs]));
    const ids = Array.from({ length: send.timelinePages }, (_, page) => pageKey(send.workspaceId, send.emailId, page));
    for (let i = 0; i < ids.length; i += inChunk) {
      for (const page of await this.#pages.find({ _id: { $in: ids.slice(i, i + inChunk) } }).toArray()) {
        for (const ref of page.refs ?? []) refs.set(ref.svixId, ref.atUs);
      }
    }
    return [...refs].map(([svixId, atUs]) => ({ svixId, atUs }));
  }

  /** A page of a campaign's sends in email id order. */
  async listByCampaign(
    workspaceId: string,
    campaignId: string,
    filters: { status?: StatusName; subscriberId?: string },
    afterEmailId: string | undefined,
    limit: number,
  ): Promise<StoredSend[]> {
    const filter: Record<string, unknown> = { workspaceId, campaignId };
    if (filters.status) filter.status = filters.status;
    if (filters.subscriberId) filter.subscriberId = filters.subscriberId;
    if (afterEmailId !== undefined) filter.emailId = { $gt: afterEmailId };
    const docs = await this.#sends.find(filter).sort({ emailId: 1 }).limit(limit).toArray();
    return docs.map(toStored);
  }

  /**
   * A page of the sends of an address or a subscriber id that are not erased, in email id order after
   * `afterEmailId`; `next` (the last email id read) when there may be more. Addresses are matched
   * normalised: by `recipientKey`, and on documents written before it by a case-insensitive pattern
   * the page then narrows to the exact normalised address.
   */
  async listBySubscriber(workspaceId: string, match: SubscriberMatch, afterEmailId: string | undefined, limit: number): Promise<{ sends: StoredSend[]; next?: string }> {
    const emails = new Set(match.emails);
    const anyOf: Record<string, unknown>[] = [];
    if (emails.size > 0) {
      anyOf.push({ recipientKey: { $in: [...emails] } });
      anyOf.push({ recipientKey: { $exists: false }, "state.recipient": { $regex: legacyRecipientPattern([...emails]), $options: "i" } });
    }
    if (match.subscriberId) anyOf.push({ subscriberId: match.subscriberId });
    if (anyOf.length === 0) return { sends: [] };
    const filter = { workspaceId, erased: { $exists: false }, ...(afterEmailId !== undefined ? { emailId: { $gt: afterEmailId } } : {}), $or: anyOf };
    const docs = await this.#sends.find(filter).sort({ emailId: 1 }).limit(limit).toArray();
    const sends = docs
      .map(toStored)
      .filter((send) => emails.has(normaliseAddress(send.state.recipient)) || (match.subscriberId !== undefined && send.state.subscriberId === match.subscriberId));
    return { sends, next: docs.length === limit ? docs.at(-1)!.emailId : undefined };
  }

  /** The timeline entries of the send's events among `svixIds` (those stored). */
  async timelineEntries(workspaceId: string, emailId: string, svixIds: readonly string[]): Promise<TimelineEntry[]> {
    const entries: TimelineEntry[] = [];
    for (let i = 0; i < svixIds.length; i += inChunk) {
      const ids = svixIds.slice(i, i + inChunk).map((svixId) => timelineKey(workspaceId, svixId));
      for (const { _id, folded: _folded, ...entry } of await this.#timeline.find({ _id: { $in: ids }, emailId }).toArray()) entries.push(entry);
    }
    return entries;
  }

  /**
   * Replaces detail fields of timeline entries of the send (only those given: the `folded` flag a
   * retirement sets meanwhile stays), one statement per entry `_id`. Returns how many entries it wrote.
   */
  async setTimelineDetails(workspaceId: string, emailId: string, updates: readonly { svixId: string; detail: TimelineDetail }[]): Promise<number> {
    if (updates.length === 0) return 0;
    const operations = updates.map(({ svixId, detail }): AnyBulkWriteOperation<TimelineDocument> => ({
      updateOne: { filter: { _id: timelineKey(workspaceId, svixId), emailId }, update: { $set: detail } },
    }));
    for (let i = 0; i < operations.length; i += inChunk) await this.#timeline.bulkWrite(operations.slice(i, i + inChunk), { ordered: false, ...writeOptions });
    return updates.length;
  }

  /** A page of the Resend sends a reconciliation selects, in email id order after `afterEmailId`. */
  async listForReconciliation(workspaceId: string, selection: ReconcileSelection, afterEmailId: string | undefined, limit: number): Promise<StoredSend[]> {
    const docs = await this.#sends.find(reconcileFilter(workspaceId, selection, afterEmailId)).sort({ emailId: 1 }).limit(limit).toArray();
    return docs.map(toStored);
  }

  /** How many sends the reconciliation selects. */
  async countForReconciliation(workspaceId: string, selection: ReconcileSelection): Promise<number> {
    return await this.#sends.countDocuments(reconcileFilter(workspaceId, selection, undefined));
  }

  /**
   * One retention run: deletes sends last changed before `cutoffMs` (never one whose SendRecorded is still
   * to be published) with their timeline entries and pages. A send's entries and pages go before the send
   * itself, each send deleted only if its version is still the one read: a run that stops half-way leaves
   * the send, which the next run finds again, so nothing of it is left behind unreachable. A send that
   * changes during its own deletion (an event after SENDS_RETENTION_DAYS of silence, in that instant) stays
   * with the entries of its older events gone. On FerretDB the read decodes the sends in their insertion
   * order until it has its page (the oldest sends come first); deletes are by `_id`.
   */
  async sweepExpired(cutoffMs: number, limits: SweepLimits): Promise<SweepResult> {
    const limit = limits.pageSize * limits.pages;
    const cursor = this.#sends.find(
      { updatedAtMs: { $lt: cutoffMs }, pendingSendRecorded: { $ne: true } },
      { projection: { _id: 1, workspaceId: 1, emailId: 1, version: 1, facts: 1, timelinePages: 1 }, limit, batchSize: limits.pageSize },
    );
    let deleted = 0;
    let read = 0;
    for await (const page of pagesOf(cursor, limits.pageSize)) {
      read += page.length;
      deleted += await this.#deleteSends(page, cutoffMs);
    }
    return { deleted, more: read === limit && deleted > 0 };
  }

  async #deleteSends(sends: readonly Pick<SendDocument, "_id" | "workspaceId" | "emailId" | "version" | "facts" | "timelinePages">[], cutoffMs: number): Promise<number> {
    const entries: { _id: string; emailId: string }[] = [];
    const pageIds: string[] = [];
    for (const send of sends) {
      for (const fact of send.facts ?? []) entries.push({ _id: timelineKey(send.workspaceId, fact.svixId), emailId: send.emailId });
      for (let page = 0; page < (send.timelinePages ?? 0); page++) pageIds.push(pageKey(send.workspaceId, send.emailId, page));
    }
    for (let i = 0; i < pageIds.length; i += inChunk) {
      for (const page of await this.#pages.find({ _id: { $in: pageIds.slice(i, i + inChunk) } }).toArray()) {
        for (const ref of page.refs ?? []) entries.push({ _id: timelineKey(page.workspaceId, ref.svixId), emailId: page.emailId });
      }
    }
    // With the send's email id in each filter: an entry of another email under the same svix id stays.
    await deleteEach(this.#timeline, entries);
    await deleteEach(this.#pages, pageIds.map((_id) => ({ _id })));
    return await deleteEach(
      this.#sends,
      sends.map(({ _id, version }) => ({ _id, version, updatedAtMs: { $lt: cutoffMs }, pendingSendRecorded: { $ne: true } })),
    );
  }
}

/** Which sends a reconciliation run checks. Times in µs; since inclusive, until exclusive. */
export interface ReconcileSelection {
  campaignId?: string;
  /** Sent (the send's sent time). */
  sinceUs?: number;
  untilUs?: number;
  /** Registered by RecordSend: the windows of the sweep and of a silence. */
  recordedSinceUs?: number;
  recordedUntilUs?: number;
  /** Only sends without a final status (sent, delivery_delayed). */
  unsettledOnly: boolean;
}

/** Every other provider's email id starts with its name and a colon (shared/providers.ts emailIdOf). */
const notResend = /^(ses|sendgrid|postmark|mailgun):/;

function reconcileFilter(workspaceId: string, selection: ReconcileSelection, afterEmailId: string | undefined): Record<string, unknown> {
  const filter: Record<string, unknown> = { workspaceId, emailId: { ...(afterEmailId !== undefined ? { $gt: afterEmailId } : {}), $not: notResend } };
  if (selection.campaignId) filter.campaignId = selection.campaignId;
  if (selection.sinceUs !== undefined || selection.untilUs !== undefined) {
    filter["state.sentAtUs"] = {
      ...(selection.sinceUs !== undefined ? { $gte: selection.sinceUs } : {}),
      ...(selection.untilUs !== undefined ? { $lt: selection.untilUs } : {}),
    };
  }
  if (selection.recordedSinceUs !== undefined || selection.recordedUntilUs !== undefined) {
    filter["registration.recordedAtUs"] = {
      ...(selection.recordedSinceUs !== undefined ? { $gte: selection.recordedSinceUs } : {}),
      ...(selection.recordedUntilUs !== undefined ? { $lt: selection.recordedUntilUs } : {}),
    };
  }
  if (selection.unsettledOnly) filter.status = { $in: ["sent", "delivery_delayed"] };
  return filter;
}

/**
 * Addresses as documents written before `recipientKey` may hold them (as given: any case, padded), for
 * `$regex` on MongoDB and FerretDB (Go RE2) alike; the caller narrows to the exact normalised address.
 */
function legacyRecipientPattern(emails: readonly string[]): string {
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return `^\\s*(?:${emails.map(escape).join("|")})\\s*$`;
}

function compareTimeline(a: Pick<TimelineEntry, "eventAtUs" | "receivedAtUs" | "svixId">, b: Pick<TimelineEntry, "eventAtUs" | "receivedAtUs" | "svixId">): number {
  return a.eventAtUs - b.eventAtUs || a.receivedAtUs - b.receivedAtUs || (a.svixId < b.svixId ? -1 : a.svixId > b.svixId ? 1 : 0);
}

function toDocument(send: StoredSend): SendDocument {
  return {
    _id: sendKey(send.workspaceId, send.emailId),
    workspaceId: send.workspaceId,
    emailId: send.emailId,
    version: send.version,
    registration: send.registration,
    facts: send.facts,
    retired: send.timelinePages > 0 ? send.retired : undefined,
    timelinePages: send.timelinePages > 0 ? send.timelinePages : undefined,
    state: send.state,
    campaignId: send.state.campaignId,
    subscriberId: send.state.subscriberId,
    status: send.state.status,
    // Always a string, so a write that takes the address away also replaces the stored copy.
    recipientKey: normaliseAddress(send.state.recipient),
    updatedAtMs: send.updatedAtMs,
    pendingSendRecorded: send.pendingSendRecorded || undefined,
    erased: send.erased,
  };
}

function toStored(doc: SendDocument): StoredSend {
  return {
    workspaceId: doc.workspaceId,
    emailId: doc.emailId,
    version: doc.version,
    registration: doc.registration ?? undefined,
    facts: doc.facts ?? [],
    retired: doc.retired ?? noneRetired,
    timelinePages: doc.timelinePages ?? 0,
    state: doc.state,
    updatedAtMs: doc.updatedAtMs,
    pendingSendRecorded: doc.pendingSendRecorded === true,
    ...(doc.erased ? { erased: doc.erased } : {}),
  };
}
