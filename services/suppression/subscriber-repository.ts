/**
 * Storage of subscriber addresses: one document per (workspace, normalised
 * address), `_id: "<workspaceId>:<address>"`, holding the whole state (its
 * facts and the suppression derived from them) and the outbox of unpublished
 * events. Hides the driver; returns plain objects; reads old documents in the
 * current shape (legacy-document.ts).
 *
 * FerretDB v1 (SQLite) runs only `{_id: <string>}` filters in SQL; every other
 * filter decodes the whole collection. The hot paths (CheckSuppressions, every
 * event) therefore read by `_id`. List, export and lookup by subscriber id
 * scan on FerretDB and use the indexes created here on MongoDB.
 */
import type { Collection, Db } from "mongodb";
import { subscriberKey } from "./address.ts";
import { mapLimited } from "../shared/map-limited.ts";
import { ensureIndexes, isDuplicateKeyError } from "../shared/mongo.ts";
import { upgradeState, type StoredState } from "./legacy-document.ts";
import type { Reason, SubscriberState, SuppressionRecord } from "./subscriber-state.ts";

type SubscriberDoc = StoredState & {
  _id: string;
  /** Top-level copies for list queries and their indexes. */
  suppressed: boolean;
  reason: Reason | null;
  /** Serialised outbox entries not yet acknowledged by JetStream. */
  outbox: string[];
};

/**
 * `suppression_outbox` marks a subscriber document that may hold unpublished events. `forVersion`
 * is the highest version a writer announced it was about to save with an entry: a mark is only
 * forgotten once the document was seen drained at that version or later (see clearOutboxPending).
 */
interface OutboxMark {
  _id: string;
  sinceMs: number;
  forVersion?: number;
}

/** A document that may hold unpublished events. */
export interface PendingOutbox {
  workspaceId: string;
  email: string;
  /** The version a writer announced (0 for marks written before versions were recorded). */
  forVersion: number;
}

/** How CheckSuppressions reads many addresses: one `_id` lookup each, or `$in` queries of `idsPerLookup`. */
export type LookupStrategy = "find-one" | "in";

/** Ids per `$in` query (the most the local FerretDB build looks up by index). */
const idsPerLookup = 1000;

export interface StoredSubscriber {
  state: SubscriberState;
  outbox: string[];
}

/** The result of an optimistic save. */
export type SaveResult = "saved" | "conflict";

const stateOf = (doc: SubscriberDoc): StoredSubscriber => {
  const { _id, suppressed, reason, outbox, ...state } = doc;
  return { state: upgradeState(state), outbox: outbox ?? [] };
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
  readonly #outboxIndex: Collection<OutboxMark>;
  readonly #lookupConcurrency: number;

  constructor(db: Db, options: { lookupConcurrency?: number } = {}) {
    this.#lookupConcurrency = options.lookupConcurrency ?? 16;
    this.#subscribers = db.collection<SubscriberDoc>("suppression_subscribers");
    this.#outboxIndex = db.collection("suppression_outbox");
  }

  /** Creates the indexes of every query path (idempotent). */
  async ensureIndexes(): Promise<void> {
    // Shared helper: one index per command (FerretDB v1.24 drops the connection when one createIndexes
    // command names indexes that exist), safe when several instances start at once.
    await ensureIndexes(this.#subscribers, [
      { key: { workspaceId: 1, suppressed: 1, email: 1 }, name: "list_all" },
      { key: { workspaceId: 1, reason: 1, email: 1 }, name: "list_by_reason" },
      { key: { workspaceId: 1, subscriberId: 1, updatedAtMs: -1 }, name: "by_subscriber_id" },
    ]);
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
   * outbox in one write; "conflict" when another writer got there first. The
   * `{_id, version}` guard is what makes several instances safe, on MongoDB and
   * on the local FerretDB (patched to be atomic per document and to run any
   * filter with an `_id` equality by the `_id` index).
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
    const result = await this.#subscribers.replaceOne({ _id, version: state.version - 1 }, doc);
    return result.matchedCount === 1 ? "saved" : "conflict";
  }

  /**
   * Notes, before the save, that the document is about to hold unpublished
   * events at `version`. Another instance may be clearing the mark meanwhile;
   * the version is what stops it (clearOutboxPending).
   */
  async markOutboxPending(workspaceId: string, email: string, version: number, nowMs: number): Promise<void> {
    const _id = subscriberKey(workspaceId, email);
    const mark = () => this.#outboxIndex.updateOne({ _id }, { $setOnInsert: { sinceMs: nowMs }, $max: { forVersion: version } }, { upsert: true });
    try {
      await mark();
    } catch (error) {
      // Two first marks raced; the mark exists now, so the second attempt updates it.
      if (!isDuplicateKeyError(error)) throw error;
      await mark();
    }
  }

  /**
   * Removes a published entry (bumping the version so a stale concurrent save
   * cannot bring it back); returns the document's version and how many entries
   * it still holds right after, or undefined when the document is gone.
   */
  async removeFromOutbox(workspaceId: string, email: string, entry: string): Promise<{ version: number; left: number } | undefined> {
    const doc = await this.#subscribers.findOneAndUpdate(
      { _id: subscriberKey(workspaceId, email) },
      { $pull: { outbox: entry }, $inc: { version: 1 } },
      // No projection: FerretDB v1's findAndModify does not implement `fields`.
      { returnDocument: "after" },
    );
    return doc ? { version: doc.version, left: doc.outbox?.length ?? 0 } : undefined;
  }

  /**
   * Forgets the pending mark of a document seen with an empty outbox at
   * `drainedAtVersion` — unless a writer announced a later version: it is
   * between its mark and its save, and the entry it saves must stay findable.
   * False when the mark stays (or was already gone).
   */
  async clearOutboxPending(workspaceId: string, email: string, drainedAtVersion: number): Promise<boolean> {
    const _id = subscriberKey(workspaceId, email);
    const result = await this.#outboxIndex.deleteOne({
      _id,
      $or: [{ forVersion: { $lte: drainedAtVersion } }, { forVersion: { $exists: false } }],
    });
    return result.deletedCount === 1;
  }

  /**
   * Moves a document from `version` to the next one without changing it, so a
   * writer that read `version` and has not saved yet fails its guarded save and
   * starts over (with a new mark). False when the document is not at `version`.
   */
  async fence(workspaceId: string, email: string, version: number): Promise<boolean> {
    const result = await this.#subscribers.updateOne({ _id: subscriberKey(workspaceId, email), version }, { $inc: { version: 1 } });
    return result.matchedCount === 1;
  }

  /** Drops the pending mark of an erased address (its key holds the address). */
  async forgetOutboxMark(workspaceId: string, email: string): Promise<void> {
    await this.#outboxIndex.deleteOne({ _id: subscriberKey(workspaceId, email) });
  }

  /** Documents that may hold unpublished events. */
  async outboxPending(limit: number): Promise<PendingOutbox[]> {
    const marks = await this.#outboxIndex.find({}).limit(limit).toArray();
    return marks.map((mark) => {
      const colon = mark._id.indexOf(":");
      return { workspaceId: mark._id.slice(0, colon), email: mark._id.slice(colon + 1), forVersion: mark.forVersion ?? 0 };
    });
  }

  /**
   * Inserts the state as a new document unless one exists under its key; false when one did (an
   * erasure applied twice, or by two instances: the first copy stays).
   */
  async insertIfAbsent(state: SubscriberState): Promise<boolean> {
    try {
      await this.#subscribers.insertOne(toDocument(state, []));
      return true;
    } catch (error) {
      if (isDuplicateKeyError(error)) return false;
      throw error;
    }
  }

  /** Deletes an address's document if it is still at `version` (an erasure); false when it changed or is gone. */
  async deleteAt(workspaceId: string, email: string, version: number): Promise<boolean> {
    const result = await this.#subscribers.deleteOne({ _id: subscriberKey(workspaceId, email), version });
    return result.deletedCount === 1;
  }

  /** The first stored of several keys of one address (its own, or its erased pseudonyms), or undefined. */
  async firstOf(workspaceId: string, emails: readonly string[]): Promise<StoredSubscriber | undefined> {
    for (const email of emails) {
      const found = await this.get(workspaceId, email);
      if (found) return found;
    }
    return undefined;
  }

  /** Every address carrying a subscriber id (at most `limit`). */
  async allBySubscriberId(workspaceId: string, subscriberId: string, limit: number): Promise<StoredSubscriber[]> {
    const docs = await this.#subscribers.find({ workspaceId, subscriberId }).sort({ updatedAtMs: -1 }).limit(limit).toArray();
    return docs.map(stateOf);
  }

  /**
   * Current suppressions of many normalised addresses (absent = not suppressed). `erasedKeys` gives the
   * pseudonyms an address may have been erased under: looked up only for addresses with no document of
   * their own (an erasure deletes it), so a check of addresses that were never erased costs nothing more
   * than the addresses nobody ever saw.
   */
  async suppressionsOf(
    workspaceId: string,
    emails: string[],
    strategy: LookupStrategy,
    erasedKeys?: (email: string) => string[],
  ): Promise<Map<string, SuppressionRecord>> {
    const { found, seen } = await this.#suppressionsOf(workspaceId, emails, strategy);
    const unknown = erasedKeys ? emails.filter((email) => !seen.has(email)) : [];
    if (unknown.length === 0) return found;
    const byPseudonym = new Map(unknown.flatMap((email) => erasedKeys!(email).map((pseudonym) => [pseudonym, email] as const)));
    const erased = await this.#suppressionsOf(workspaceId, [...byPseudonym.keys()], strategy);
    for (const [pseudonym, record] of erased.found) found.set(byPseudonym.get(pseudonym)!, record);
    return found;
  }

  /** Suppressions found, and every address that has a document (suppressed or not). */
  async #suppressionsOf(
    workspaceId: string,
    emails: string[],
    strategy: LookupStrategy,
  ): Promise<{ found: Map<string, SuppressionRecord>; seen: Set<string> }> {
    const found = new Map<string, SuppressionRecord>();
    const seen = new Set<string>();
    const projection = { email: 1, suppression: 1 } as const;
    if (strategy === "in") {
      const ids = emails.map((email) => subscriberKey(workspaceId, email));
      // The local FerretDB runs an `_id` `$in` of at most 1,000 ids as one indexed SQL lookup (patch 6 of
      // scripts/build-tools.ts) and a longer one by decoding the whole collection; MongoDB does not mind.
      for (let from = 0; from < ids.length; from += idsPerLookup) {
        const chunk = ids.slice(from, from + idsPerLookup);
        for await (const doc of this.#subscribers.find({ _id: { $in: chunk } }, { projection })) {
          seen.add(doc.email);
          if (doc.suppression) found.set(doc.email, doc.suppression);
        }
      }
      return { found, seen };
    }
    await mapLimited(emails, this.#lookupConcurrency, async (email) => {
      const doc = await this.#subscribers.findOne({ _id: subscriberKey(workspaceId, email) }, { projection });
      if (doc) seen.add(email);
      if (doc?.suppression) found.set(email, doc.suppression);
    });
    return { found, seen };
  }

  /**
   * Every suppressed document's key and suppression, in batches (the check index's start). A scan on
   * every database: once per start of an instance.
   */
  async *allSuppressed(batchSize = 5000): AsyncGenerator<{ workspaceId: string; email: string; suppression: SuppressionRecord }[]> {
    const cursor = this.#subscribers.find({ suppressed: true }, { projection: { workspaceId: 1, email: 1, suppression: 1 }, batchSize });
    let batch: { workspaceId: string; email: string; suppression: SuppressionRecord }[] = [];
    for await (const doc of cursor) {
      if (doc.suppression) batch.push({ workspaceId: doc.workspaceId, email: doc.email, suppression: doc.suppression });
      if (batch.length >= batchSize) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }

  /** The current suppression (null: none, or no document) of each document key (`subscriberKey`). */
  async suppressionsByKey(keys: readonly string[]): Promise<Map<string, SuppressionRecord | null>> {
    const current = new Map<string, SuppressionRecord | null>(keys.map((key) => [key, null]));
    for (let from = 0; from < keys.length; from += idsPerLookup) {
      const chunk = keys.slice(from, from + idsPerLookup);
      for await (const doc of this.#subscribers.find({ _id: { $in: chunk } }, { projection: { suppression: 1 } })) {
        current.set(doc._id, doc.suppression ?? null);
      }
    }
    return current;
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
