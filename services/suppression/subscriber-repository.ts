/**
 * Storage of subscriber addresses: one document per (workspace, normalised
 * address), `_id: "<workspaceId>:<address>"`, holding the whole state, the
 * applied svix ids and the outbox of unpublished events. Hides the driver;
 * returns plain objects.
 *
 * FerretDB v1 (SQLite) runs only `{_id: <string>}` filters in SQL; every other
 * filter decodes the whole collection. The hot paths (CheckSuppressions, every
 * event) therefore read by `_id`. List, export and lookup by subscriber id
 * scan on FerretDB and use the indexes created here on MongoDB.
 */
import type { Collection, Db } from "mongodb";
import { subscriberKey } from "./address.ts";
import { mapLimited } from "../shared/map-limited.ts";
import { isDuplicateKeyError } from "../shared/mongo.ts";
import type { Reason, SubscriberState, SuppressionRecord } from "./subscriber-state.ts";

interface SubscriberDoc extends SubscriberState {
  _id: string;
  /** Top-level copies for list queries and their indexes. */
  suppressed: boolean;
  reason: Reason | null;
  /** Serialised outbox entries not yet acknowledged by JetStream. */
  outbox: string[];
}

/** How a save guards against a concurrent writer. */
export type WriteGuard =
  /** `{_id, version}`: atomic compare-and-set on MongoDB; on FerretDB it decodes the whole collection. */
  | "version"
  /** `{_id}` only: stays in SQL on FerretDB; relies on the in-process KeyedLock (one instance per database). */
  | "id";

/** How CheckSuppressions reads many addresses. */
export type LookupStrategy = "find-one" | "in";

export interface StoredSubscriber {
  state: SubscriberState;
  outbox: string[];
}

/** The result of an optimistic save. */
export type SaveResult = "saved" | "conflict";

const stateOf = (doc: SubscriberDoc): StoredSubscriber => {
  const { _id, suppressed, reason, outbox, ...state } = doc;
  return { state, outbox: outbox ?? [] };
};

const toDocument = (state: SubscriberState, outbox: string[]): SubscriberDoc => ({
  _id: subscriberKey(state.workspaceId, state.email),
  ...state,
  suppressed: state.suppression !== null,
  reason: state.suppression?.reason ?? null,
  outbox,
});

export class SubscriberRepository {
  readonly #subscribers: Collection<SubscriberDoc>;
  readonly #outboxIndex: Collection<{ _id: string; sinceMs: number }>;
  readonly #guard: WriteGuard;
  readonly #lookupConcurrency: number;

  constructor(db: Db, options: { guard: WriteGuard; lookupConcurrency?: number }) {
    this.#lookupConcurrency = options.lookupConcurrency ?? 16;
    this.#subscribers = db.collection<SubscriberDoc>("suppression_subscribers");
    this.#outboxIndex = db.collection("suppression_outbox");
    this.#guard = options.guard;
  }

  /** Creates the indexes of every query path (idempotent). */
  async ensureIndexes(): Promise<void> {
    // One index per command: FerretDB v1.24 panics (drops the connection) when one createIndexes
    // command names several indexes that all exist already — i.e. on every restart.
    await this.#subscribers.createIndex({ workspaceId: 1, suppressed: 1, email: 1 }, { name: "list_all" });
    await this.#subscribers.createIndex({ workspaceId: 1, reason: 1, email: 1 }, { name: "list_by_reason" });
    await this.#subscribers.createIndex({ workspaceId: 1, subscriberId: 1, updatedAtMs: -1 }, { name: "by_subscriber_id" });
  }

  /** One address, or undefined when it was never seen. */
  async get(workspaceId: string, email: string): Promise<StoredSubscriber | undefined> {
    const doc = await this.#subscribers.findOne({ _id: subscriberKey(workspaceId, email) });
    return doc ? stateOf(doc) : undefined;
  }

  /** Inserts many new addresses at once (bulk loading for benchmarks and imports). */
  async insertMany(states: SubscriberState[]): Promise<void> {
    await this.#subscribers.insertMany(states.map((state) => toDocument(state, [])), { ordered: false });
  }

  /**
   * Stores `state` (whose version is one more than what was read) with its
   * outbox in one write; "conflict" when another writer got there first.
   */
  async save(state: SubscriberState, outbox: string[]): Promise<SaveResult> {
    const doc = toDocument(state, outbox);
    const _id = doc._id;
    if (state.version === 1) {
      try {
        await this.#subscribers.insertOne(doc);
        return "saved";
      } catch (error) {
        if (isDuplicateKeyError(error)) return "conflict";
        throw error;
      }
    }
    const filter = this.#guard === "version" ? { _id, version: state.version - 1 } : { _id };
    const result = await this.#subscribers.replaceOne(filter, doc);
    return result.matchedCount === 1 ? "saved" : "conflict";
  }

  /** Notes that a document has unpublished events (written before the document itself). */
  async markOutboxPending(workspaceId: string, email: string, nowMs: number): Promise<void> {
    const _id = subscriberKey(workspaceId, email);
    await this.#outboxIndex.updateOne({ _id }, { $setOnInsert: { sinceMs: nowMs } }, { upsert: true });
  }

  /** Removes a published entry (bumping the version so a stale concurrent save cannot bring it back). */
  async removeFromOutbox(workspaceId: string, email: string, entry: string): Promise<void> {
    await this.#subscribers.updateOne({ _id: subscriberKey(workspaceId, email) }, { $pull: { outbox: entry }, $inc: { version: 1 } });
  }

  /** Forgets the pending mark once the document's outbox is empty. */
  async clearOutboxPending(workspaceId: string, email: string): Promise<void> {
    await this.#outboxIndex.deleteOne({ _id: subscriberKey(workspaceId, email) });
  }

  /** Documents that may hold unpublished events: `[workspaceId, email]` pairs. */
  async outboxPending(limit: number): Promise<[string, string][]> {
    const marks = await this.#outboxIndex.find({}).limit(limit).toArray();
    return marks.map((mark) => {
      const colon = mark._id.indexOf(":");
      return [mark._id.slice(0, colon), mark._id.slice(colon + 1)];
    });
  }

  /** Current suppressions of many normalised addresses (absent = not suppressed). */
  async suppressionsOf(
    workspaceId: string,
    emails: string[],
    strategy: LookupStrategy,
  ): Promise<Map<string, SuppressionRecord>> {
    const found = new Map<string, SuppressionRecord>();
    const projection = { email: 1, suppression: 1 } as const;
    if (strategy === "in") {
      const ids = emails.map((email) => subscriberKey(workspaceId, email));
      for await (const doc of this.#subscribers.find({ _id: { $in: ids } }, { projection })) {
        if (doc.suppression) found.set(doc.email, doc.suppression);
      }
      return found;
    }
    await mapLimited(emails, this.#lookupConcurrency, async (email) => {
      const doc = await this.#subscribers.findOne({ _id: subscriberKey(workspaceId, email) }, { projection });
      if (doc?.suppression) found.set(email, doc.suppression);
    });
    return found;
  }

  /** A page of current suppressions ordered by address, after `afterEmail`. */
  async listSuppressed(
    workspaceId: string,
    reason: Reason | undefined,
    afterEmail: string | undefined,
    limit: number,
  ): Promise<StoredSubscriber[]> {
    const filter = {
      workspaceId,
      ...(reason ? { reason } : { suppressed: true }),
      ...(afterEmail !== undefined ? { email: { $gt: afterEmail } } : {}),
    };
    const docs = await this.#subscribers.find(filter).sort({ email: 1 }).limit(limit).toArray();
    return docs.map(stateOf);
  }

  /** The most recently updated address carrying a subscriber id. */
  async findBySubscriberId(workspaceId: string, subscriberId: string): Promise<StoredSubscriber | undefined> {
    const docs = await this.#subscribers.find({ workspaceId, subscriberId }).sort({ updatedAtMs: -1 }).limit(1).toArray();
    return docs[0] ? stateOf(docs[0]) : undefined;
  }
}
