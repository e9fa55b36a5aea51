/**
 * Where workspace webhook settings live (collection `gateway_workspaces`,
 * `_id` = workspace id) and their audit trail (`gateway_secret_audit`).
 * Only sealed secrets are stored; writes use a version guard so two
 * concurrent rotations cannot both win.
 */
import type { Collection, Db } from "mongodb";
import { ensureIndexes, isDuplicateKeyError } from "../../shared/mongo.ts";

export type SecretRole = "current" | "previous";

export interface StoredSecret {
  sealed: string;
  fingerprint: string;
  role: SecretRole;
  createdAt: Date;
  expiresAt?: Date;
}

export interface WorkspaceRecord {
  workspaceId: string;
  secrets: StoredSecret[];
  version: number;
  updatedAt: Date;
}

export interface SecretAuditEntry {
  workspaceId: string;
  action: "set" | "rotate" | "remove";
  actor: string;
  note: string;
  fingerprints: string[];
  at: Date;
}

interface WorkspaceDoc {
  _id: string;
  secrets: StoredSecret[];
  version: number;
  updatedAt: Date;
}

export class WorkspaceRepository {
  private readonly workspaces: Collection<WorkspaceDoc>;
  private readonly audit: Collection<SecretAuditEntry>;

  constructor(db: Db) {
    this.workspaces = db.collection<WorkspaceDoc>("gateway_workspaces");
    this.audit = db.collection<SecretAuditEntry>("gateway_secret_audit");
  }

  async ensureIndexes(): Promise<void> {
    await ensureIndexes(this.audit, [{ key: { workspaceId: 1, at: -1 } }]);
  }

  /** The workspace's settings, or undefined when it was never configured. */
  async find(workspaceId: string): Promise<WorkspaceRecord | undefined> {
    const doc = await this.workspaces.findOne({ _id: workspaceId });
    if (!doc) return undefined;
    return { workspaceId: doc._id, secrets: doc.secrets, version: doc.version, updatedAt: doc.updatedAt };
  }

  /**
   * Writes the secrets if the stored version is still `expectedVersion`
   * (0 = the workspace must not exist yet). False means someone else wrote first.
   */
  async save(workspaceId: string, secrets: StoredSecret[], expectedVersion: number, now: Date): Promise<boolean> {
    if (expectedVersion === 0) {
      try {
        await this.workspaces.insertOne({ _id: workspaceId, secrets, version: 1, updatedAt: now });
        return true;
      } catch (error) {
        if (isDuplicateKeyError(error)) return false;
        throw error;
      }
    }
    const result = await this.workspaces.updateOne(
      { _id: workspaceId, version: expectedVersion },
      { $set: { secrets, version: expectedVersion + 1, updatedAt: now } },
    );
    return result.modifiedCount === 1;
  }

  async appendAudit(entry: SecretAuditEntry): Promise<void> {
    await this.audit.insertOne({ ...entry });
  }
}
