/**
 * The audit entries the settings service keeps (collection `gateway_audit`,
 * `_id` = entry id, so recording an entry twice stores it once): its own
 * webhook-secret changes and the entries the other services publish. Every
 * query is scoped to one workspace.
 *
 * Entries written before callers were recorded live in `gateway_secret_audit`
 * (no id, no caller); `importLegacy` copies them here under a derived id and
 * only then deletes them there, so nothing is lost if it stops half-way and
 * a repeat (or a second instance doing the same) changes nothing.
 */
import type { Collection, Db, ObjectId } from "mongodb";
import type { AuditActionName, AuditRecord } from "../../shared/audit.ts";
import { ensureIndexes, isDuplicateKeyError } from "../../shared/mongo.ts";
import { ensureTtlIndex, sweepMatching, type SweepLimits, type SweepResult } from "../../shared/retention.ts";

interface AuditDoc {
  _id: string;
  workspaceId: string;
  at: Date;
  service: string;
  action: AuditActionName;
  caller: string;
  actor: string;
  note: string;
  target: string;
}

/** What the first version of the gateway wrote per secret change. */
interface LegacySecretAuditDoc {
  _id: ObjectId;
  workspaceId: string;
  action: "set" | "rotate" | "remove";
  actor: string;
  note: string;
  fingerprints: string[];
  at: Date;
}

/** Position after the last entry of a page (newest first). */
export type AuditCursor = [atMs: number, id: string];

const toDoc = ({ id, atMs, ...fields }: AuditRecord): AuditDoc => ({ _id: id, at: new Date(atMs), ...fields });
const toRecord = ({ _id, at, ...fields }: AuditDoc): AuditRecord => ({ id: _id, atMs: at.getTime(), ...fields });

export class AuditRepository {
  private readonly entries: Collection<AuditDoc>;
  private readonly legacy: Collection<LegacySecretAuditDoc>;

  constructor(db: Db) {
    this.entries = db.collection<AuditDoc>("gateway_audit");
    this.legacy = db.collection<LegacySecretAuditDoc>("gateway_secret_audit");
  }

  async ensureIndexes(): Promise<void> {
    await ensureIndexes(this.entries, [{ key: { workspaceId: 1, at: -1, _id: -1 }, name: "by_workspace_newest" }]);
  }

  /** A TTL index on `at` where the database has them (AUDIT_RETENTION_DAYS); false where it has not. */
  async expireByDatabase(lifetimeMs: number): Promise<boolean> {
    return await ensureTtlIndex(this.entries, "at", lifetimeMs);
  }

  /** Deletes entries made before `cutoffMs` (one sweep run). */
  async sweepExpired(cutoffMs: number, limits: SweepLimits): Promise<SweepResult> {
    return await sweepMatching(this.entries, { at: { $lt: new Date(cutoffMs) } }, limits);
  }

  /** Stores the entry unless one with its id is stored (then nothing changes). */
  async record(entry: AuditRecord): Promise<void> {
    try {
      await this.entries.insertOne(toDoc(entry));
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
    }
  }

  /** A page of one workspace's entries, newest first, after `after`. */
  async list(workspaceId: string, after: AuditCursor | undefined, limit: number): Promise<AuditRecord[]> {
    const filter = after
      ? { workspaceId, $or: [{ at: { $lt: new Date(after[0]) } }, { at: new Date(after[0]), _id: { $lt: after[1] } }] }
      : { workspaceId };
    const docs = await this.entries.find(filter).sort({ at: -1, _id: -1 }).limit(limit).toArray();
    return docs.map(toRecord);
  }

  /**
   * A page of one workspace's entries whose target or note contains one of `texts` in any case, in id
   * order after `afterId` (for an erasure; the caller decides what each match means).
   */
  async mentioning(workspaceId: string, texts: readonly string[], afterId: string | undefined, limit: number): Promise<AuditRecord[]> {
    const pattern = { $regex: texts.map((text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), $options: "i" };
    const filter = { workspaceId, ...(afterId === undefined ? {} : { _id: { $gt: afterId } }), $or: [{ target: pattern }, { note: pattern }] };
    const docs = await this.entries.find(filter).sort({ _id: 1 }).limit(limit).toArray();
    return docs.map(toRecord);
  }

  /** Replaces an entry's target and note (an erasure); true when that changed it. */
  async redact(workspaceId: string, id: string, fields: { target: string; note: string }): Promise<boolean> {
    const result = await this.entries.updateOne({ _id: id, workspaceId }, { $set: fields });
    return result.modifiedCount > 0;
  }

  /** Moves the entries of `gateway_secret_audit` here, `batch` at a time; returns how many. */
  async importLegacy(batch = 500): Promise<number> {
    const actions = { set: "set_webhook_secret", rotate: "rotate_webhook_secret", remove: "remove_webhook_secret" } as const;
    let moved = 0;
    for (;;) {
      const docs = await this.legacy.find({}).limit(batch).toArray();
      if (docs.length === 0) return moved;
      for (const doc of docs) {
        await this.record({
          id: `legacy-${doc._id.toHexString()}`,
          workspaceId: doc.workspaceId,
          service: "webhook-gateway",
          action: actions[doc.action] ?? "set_webhook_secret",
          caller: "",
          actor: doc.actor ?? "",
          note: doc.note ?? "",
          target: (doc.fingerprints ?? []).join(","),
          atMs: new Date(doc.at).getTime(),
        });
      }
      await this.legacy.deleteMany({ _id: { $in: docs.map((doc) => doc._id) } });
      moved += docs.length;
    }
  }
}
