/**
 * Where workspace webhook settings live (collection `gateway_workspaces`,
 * `_id` = workspace id). Only sealed secrets are stored; writes use a version
 * guard so two concurrent rotations cannot both win. Each change also leaves
 * an outbox entry in the same write (its audit entry, which stands for the
 * cache invalidation too), removed once recorded and announced
 * (secret-outbox.ts); `pendingOutbox` marks the documents the sweep must look at.
 */
import type { Collection, Db } from "mongodb";
import { ensureIndexes, isDuplicateKeyError } from "../../shared/mongo.ts";
import type { Provider } from "../providers/provider-adapter.ts";

export type SecretRole = "current" | "previous";

export interface StoredSecret {
  sealed: string;
  fingerprint: string;
  role: SecretRole;
  createdAt: Date;
  expiresAt?: Date;
  /** Whose credential this is; absent on secrets stored before other providers, which are Resend's. */
  provider?: Provider;
}

/** A provider API key for reconciliation (at most one per provider), sealed with purpose "provider-api-key". */
export interface StoredApiKey {
  provider: Provider;
  sealed: string;
  fingerprint: string;
  createdAt: Date;
}

export interface WorkspaceRecord {
  workspaceId: string;
  secrets: StoredSecret[];
  /** Absent on workspaces that never had one. */
  apiKeys?: StoredApiKey[];
  version: number;
  updatedAt: Date;
}

/** A workspace whose outbox may hold entries not yet recorded and announced. */
export interface PendingOutbox {
  workspaceId: string;
  version: number;
  /** Serialised entries, oldest first. */
  outbox: string[];
}

interface WorkspaceDoc {
  _id: string;
  secrets: StoredSecret[];
  apiKeys?: StoredApiKey[];
  version: number;
  updatedAt: Date;
  outbox?: string[];
  pendingOutbox?: true;
}

export class WorkspaceRepository {
  private readonly workspaces: Collection<WorkspaceDoc>;

  constructor(db: Db) {
    this.workspaces = db.collection<WorkspaceDoc>("gateway_workspaces");
  }

  async ensureIndexes(): Promise<void> {
    await ensureIndexes(this.workspaces, [{ key: { pendingOutbox: 1 }, name: "outbox_pending", sparse: true }]);
  }

  /** The workspace's settings, or undefined when it was never configured. */
  async find(workspaceId: string): Promise<WorkspaceRecord | undefined> {
    const doc = await this.workspaces.findOne({ _id: workspaceId });
    if (!doc) return undefined;
    return toRecord(doc);
  }

  /**
   * Writes the API keys and appends `outboxEntry` to the outbox, if the stored version is still
   * `expectedVersion` (0 = the workspace must not exist yet; it is created with no webhook secret). False
   * means someone else wrote first.
   */
  async saveApiKeys(workspaceId: string, apiKeys: StoredApiKey[], expectedVersion: number, now: Date, outboxEntry: string): Promise<boolean> {
    return await this.#saveGuarded(workspaceId, { apiKeys }, expectedVersion, now, outboxEntry);
  }

  /**
   * Writes the secrets and appends `outboxEntry` (if any) to the outbox, if the stored version is
   * still `expectedVersion` (0 = the workspace must not exist yet). False means someone else wrote
   * first. `apiKeys` are written too when given (re-encryption re-seals both in one write).
   */
  async save(workspaceId: string, secrets: StoredSecret[], expectedVersion: number, now: Date, outboxEntry?: string, apiKeys?: StoredApiKey[]): Promise<boolean> {
    return await this.#saveGuarded(workspaceId, { secrets, ...(apiKeys ? { apiKeys } : {}) }, expectedVersion, now, outboxEntry);
  }

  /**
   * The one version-guarded write of a workspace document: the given fields, the version bumped, and the
   * outbox entry (if any) pushed — never written from a copy, so a writer holding a stale read cannot bring
   * back an entry the outbox already removed. A new document starts with no secrets unless given.
   */
  async #saveGuarded(
    workspaceId: string,
    fields: { secrets?: StoredSecret[]; apiKeys?: StoredApiKey[] },
    expectedVersion: number,
    now: Date,
    outboxEntry: string | undefined,
  ): Promise<boolean> {
    const pending = outboxEntry === undefined ? {} : { pendingOutbox: true as const };
    if (expectedVersion === 0) {
      try {
        await this.workspaces.insertOne({ _id: workspaceId, secrets: [], ...fields, version: 1, updatedAt: now, outbox: outboxEntry === undefined ? [] : [outboxEntry], ...pending });
        return true;
      } catch (error) {
        if (isDuplicateKeyError(error)) return false;
        throw error;
      }
    }
    const result = await this.workspaces.updateOne(
      { _id: workspaceId, version: expectedVersion },
      { $set: { ...fields, version: expectedVersion + 1, updatedAt: now, ...pending }, ...(outboxEntry === undefined ? {} : { $push: { outbox: outboxEntry } }) },
    );
    return result.modifiedCount === 1;
  }

  /** Every workspace id, in one pass over the collection (the gateway's list of known workspaces). */
  async *ids(): AsyncGenerator<string> {
    for await (const doc of this.workspaces.find({}, { projection: { _id: 1 }, batchSize: 10_000 })) yield doc._id;
  }

  /** Up to `limit` workspaces whose id sorts after `afterId`, in id order (for re-encrypting every secret). */
  async listAfter(afterId: string | undefined, limit: number): Promise<WorkspaceRecord[]> {
    const docs = await this.workspaces.find(afterId === undefined ? {} : { _id: { $gt: afterId } }).sort({ _id: 1 }).limit(limit).toArray();
    return docs.map(toRecord);
  }

  /** Workspaces marked as holding outbox entries (at most `limit`). */
  async pendingOutboxes(limit: number): Promise<PendingOutbox[]> {
    const docs = await this.workspaces.find({ pendingOutbox: true }).limit(limit).toArray();
    return docs.map((doc) => ({ workspaceId: doc._id, version: doc.version, outbox: doc.outbox ?? [] }));
  }

  /**
   * Removes one handled entry; returns the version and how many entries are left right after, or
   * undefined when the workspace is gone. The version is not bumped: only saves move it, and the
   * mark is cleared only at the version seen drained (clearOutboxPending).
   */
  async removeFromOutbox(workspaceId: string, entry: string): Promise<{ version: number; left: number } | undefined> {
    const doc = await this.workspaces.findOneAndUpdate({ _id: workspaceId }, { $pull: { outbox: entry } }, { returnDocument: "after" });
    return doc ? { version: doc.version, left: doc.outbox?.length ?? 0 } : undefined;
  }

  /** Forgets the mark of a workspace seen drained at `version`, unless a save moved it on since. */
  async clearOutboxPending(workspaceId: string, version: number): Promise<void> {
    await this.workspaces.updateOne({ _id: workspaceId, version, pendingOutbox: true }, { $unset: { pendingOutbox: "" } });
  }
}

const toRecord = (doc: WorkspaceDoc): WorkspaceRecord => ({
  workspaceId: doc._id,
  secrets: doc.secrets,
  ...(doc.apiKeys ? { apiKeys: doc.apiKeys } : {}),
  version: doc.version,
  updatedAt: doc.updatedAt,
});
