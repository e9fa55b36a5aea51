/**
 * The suppression service's own copy of send attribution (from SendRecorded)
 * and the events that arrived before it. One document per email:
 * `_id: "<workspaceId>:<emailId>"`. An event that cannot be attributed is kept
 * in the document's `pending` list (as a canonical JSON string, so a
 * redelivery adds nothing) until SendRecorded arrives.
 *
 * Safe with several instances because each step is one atomic operation on
 * the one document: an event is either added to `pending` before `attribute`
 * sets `attributed` (and is returned by it) or sees the attribution; it is
 * never in neither.
 */
import type { Collection, Db } from "mongodb";
import { UnavailableError } from "../shared/errors.ts";
import { isDuplicateKeyError } from "../shared/mongo.ts";

/** Who an email was sent to, from the send record. */
export interface Attribution {
  workspaceId: string;
  emailId: string;
  campaignId: string;
  subscriberId: string;
  /** Normalised recipient address. */
  recipient: string;
}

interface SendDoc {
  _id: string;
  workspaceId: string;
  emailId: string;
  attributed?: boolean;
  campaignId?: string;
  subscriberId?: string;
  recipient?: string;
  pending?: string[];
}

const sendKey = (workspaceId: string, emailId: string) => `${workspaceId}:${emailId}`;

const attributionOf = (doc: SendDoc | null): Attribution | undefined =>
  doc?.attributed
    ? {
        workspaceId: doc.workspaceId,
        emailId: doc.emailId,
        campaignId: doc.campaignId ?? "",
        subscriberId: doc.subscriberId ?? "",
        recipient: doc.recipient ?? "",
      }
    : undefined;

export class SendRepository {
  readonly #sends: Collection<SendDoc>;

  constructor(db: Db) {
    this.#sends = db.collection<SendDoc>("suppression_sends");
  }

  /**
   * Erasure: the send records of each address keep its pseudonym as recipient (so their later events
   * still reach the erased copy), and those of the addresses or the subscriber id lose the subscriber id
   * (the campaign stays). Returns how many records changed; idempotent.
   */
  async forgetRecipients(workspaceId: string, pseudonyms: ReadonlyMap<string, string>, subscriberId: string): Promise<number> {
    let changed = 0;
    for (const [email, pseudonym] of pseudonyms) {
      const result = await this.#sends.updateMany({ workspaceId, recipient: email }, { $set: { recipient: pseudonym }, $unset: { subscriberId: "" } });
      changed += result.modifiedCount;
    }
    if (subscriberId) changed += (await this.#sends.updateMany({ workspaceId, subscriberId }, { $unset: { subscriberId: "" } })).modifiedCount;
    return changed;
  }

  /** The attribution of an email, or undefined while no send record arrived. */
  async get(workspaceId: string, emailId: string): Promise<Attribution | undefined> {
    return attributionOf(await this.#sends.findOne({ _id: sendKey(workspaceId, emailId) }));
  }

  /**
   * Stores the attribution and returns the events that waited for it. After
   * this write no event is added to `pending` any more (addPending sees the
   * attribution), so clearing them later loses nothing.
   */
  async attribute(attribution: Attribution): Promise<string[]> {
    const attribute = () =>
      this.#sends.findOneAndUpdate(
        { _id: sendKey(attribution.workspaceId, attribution.emailId) },
        { $set: { ...attribution, attributed: true } },
        { upsert: true, returnDocument: "after" },
      );
    try {
      return (await attribute())?.pending ?? [];
    } catch (error) {
      // A concurrent first write (an event kept pending on another instance) inserted the document; it matches now.
      if (!isDuplicateKeyError(error)) throw error;
      return (await attribute())?.pending ?? [];
    }
  }

  /**
   * Keeps an event for an email without attribution. Returns the attribution
   * instead when it arrived meanwhile (the guarded upsert then collides with
   * the attributed document; atomic on MongoDB).
   */
  async addPending(workspaceId: string, emailId: string, event: string): Promise<Attribution | undefined> {
    const _id = sendKey(workspaceId, emailId);
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const result = await this.#sends.updateOne(
          { _id, attributed: { $ne: true } },
          { $setOnInsert: { workspaceId, emailId }, $addToSet: { pending: event } },
          { upsert: true },
        );
        if (result.matchedCount === 1 || result.upsertedCount === 1) return undefined;
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
      }
      // The upsert collided with a document: the attributed one — or another instance's first pending
      // event, inserted between our match and our insert, which the next attempt matches and joins.
      const attribution = attributionOf(await this.#sends.findOne({ _id }));
      if (attribution) return attribution;
    }
    throw new UnavailableError(`send ${_id} kept changing while an event was kept for it; retry`);
  }

  /** Drops pending events once they were applied. */
  async clearPending(workspaceId: string, emailId: string, events: string[]): Promise<void> {
    if (events.length === 0) return;
    await this.#sends.updateOne({ _id: sendKey(workspaceId, emailId) }, { $pullAll: { pending: events } });
  }
}
