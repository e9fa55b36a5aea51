/**
 * Storage of send records and their timelines. Hides the MongoDB driver and
 * returns plain objects.
 *
 * - `delivery_sends`, `_id: "<workspace>:<email id>"`: the registration, the
 *   compact facts of every distinct event (deduplicated by svix id), the
 *   projected state (plus top-level copies of the fields list queries filter
 *   on), a `version` for optimistic concurrency, and the SendRecorded outbox flag.
 * - `delivery_timeline`, `_id: "<workspace>:<svix id>"`: one full timeline
 *   entry per distinct event (click link, user agent, bounce text, ...), so
 *   the send document stays small however many opens and clicks arrive.
 */
import type { AnyBulkWriteOperation, Collection, Db } from "mongodb";
import { mapLimited } from "../shared/map-limited.ts";
import { ensureIndexes, isDuplicateKeyError } from "../shared/mongo.ts";
import type { EventFact, Registration, SendState, StatusName } from "./send-projection.ts";

/** A send document as the use cases see it. */
export interface StoredSend {
  workspaceId: string;
  emailId: string;
  version: number;
  registration?: Registration;
  facts: EventFact[];
  state: SendState;
  updatedAtMs: number;
  /** Outbox: SendRecorded not yet published. */
  pendingSendRecorded: boolean;
}

/** One entry of a send's timeline. */
export interface TimelineEntry {
  workspaceId: string;
  emailId: string;
  svixId: string;
  type: string;
  eventAtUs: number;
  receivedAtUs: number;
  bounce?: { type: string; subType: string; message: string; diagnosticCode: string };
  click?: { link: string; ipAddress: string; userAgent: string; timestampUs?: number };
  failed?: { reason: string };
  suppressed?: { type: string; message: string };
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
  state: SendState;
  campaignId: string;
  subscriberId: string;
  status: StatusName;
  updatedAtMs: number;
  pendingSendRecorded?: boolean;
}

interface TimelineDocument extends TimelineEntry {
  _id: string;
}

/** Omits undefined fields instead of storing nulls. */
const writeOptions = { ignoreUndefined: true } as const;

/** `<workspace>:<key>`; a workspace id never contains ":", so the pair is unambiguous. */
export const sendKey = (workspaceId: string, emailId: string) => `${workspaceId}:${emailId}`;
const timelineKey = (workspaceId: string, svixId: string) => `${workspaceId}:${svixId}`;

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

  constructor(db: Db) {
    this.#sends = db.collection<SendDocument>("delivery_sends");
    this.#timeline = db.collection<TimelineDocument>("delivery_timeline");
  }

  /**
   * One index per query path (FerretDB accepts them; MongoDB uses them). Only missing ones are
   * created, one per command and race-safe (shared ensureIndexes): FerretDB v1 drops the connection
   * when asked to create an index that exists (seen when a second instance starts).
   */
  async ensureIndexes(): Promise<void> {
    await ensureIndexes(this.#sends, [
      { key: { workspaceId: 1, campaignId: 1, status: 1, emailId: 1 }, name: "list_by_campaign_status" },
      { key: { workspaceId: 1, campaignId: 1, subscriberId: 1, emailId: 1 }, name: "list_by_campaign_subscriber" },
      { key: { pendingSendRecorded: 1 }, name: "outbox_pending", sparse: true },
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
   * A page of a send's timeline in (event time, received time, svix id) order, read by `_id` from the
   * send's own facts (one per svix id) rather than by a filter on the timeline collection: FerretDB v1
   * decodes the whole collection for any filter but an exact `_id`, which made this read grow with every
   * send's events (1.3 s at 20,000 entries, measured by bench/rpc). Only the entries the page can hold
   * are fetched.
   */
  async listTimeline(send: StoredSend, after: TimelineCursor | undefined, limit: number): Promise<TimelineEntry[]> {
    // Facts carry the event time but not the received time that breaks ties, so: every fact at the cursor's
    // event time (some are past the cursor, some not), and the first `limit` later ones with all their ties.
    const atCursor = after ? send.facts.filter((fact) => fact.atUs === after[0]) : [];
    const later = send.facts.filter((fact) => !after || fact.atUs > after[0]).sort((a, b) => a.atUs - b.atUs);
    const horizon = later[Math.min(later.length, limit) - 1]?.atUs ?? -Infinity;
    const wanted = [...atCursor, ...later.filter((fact) => fact.atUs <= horizon)];
    const entries = await mapLimited(wanted, 16, (fact) => this.#timeline.findOne({ _id: timelineKey(send.workspaceId, fact.svixId) }));
    return entries
      .filter((doc): doc is TimelineDocument => doc !== null)
      .map(({ _id, ...entry }) => entry)
      .sort(compareTimeline)
      .filter((entry) => !after || compareTimeline(entry, { eventAtUs: after[0], receivedAtUs: after[1], svixId: after[2] }) > 0)
      .slice(0, limit);
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
    state: send.state,
    campaignId: send.state.campaignId,
    subscriberId: send.state.subscriberId,
    status: send.state.status,
    updatedAtMs: send.updatedAtMs,
    pendingSendRecorded: send.pendingSendRecorded || undefined,
  };
}

function toStored(doc: SendDocument): StoredSend {
  return {
    workspaceId: doc.workspaceId,
    emailId: doc.emailId,
    version: doc.version,
    registration: doc.registration ?? undefined,
    facts: doc.facts ?? [],
    state: doc.state,
    updatedAtMs: doc.updatedAtMs,
    pendingSendRecorded: doc.pendingSendRecorded === true,
  };
}
