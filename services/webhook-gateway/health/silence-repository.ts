/**
 * What gap detection remembers per workspace (collection `gateway_webhook_silence`, `_id` = workspace
 * id): the unanswered sends of silence.ts and the silence already announced. Each document is small and
 * lives as long as its workspace does; every single-workspace read and write addresses it by `_id`.
 *
 * The send times are written under a version guard (several gateway instances share the sends
 * consumer); the announcement is a field of its own, written without the guard, so the two writers never
 * make each other retry.
 */
import type { Collection, Db } from "mongodb";
import { isDuplicateKeyError } from "../../shared/mongo.ts";
import type { SilenceState } from "./silence.ts";

/** One workspace's document, as plain values. */
export interface WorkspaceSilence {
  workspaceId: string;
  state: SilenceState;
  /** The since_time of the last WebhookSilence published for the workspace. */
  announcedSince?: Date;
  /** 0 when there is no document yet. */
  version: number;
}

interface SilenceDoc {
  _id: string;
  oldestUnansweredSendAt?: Date;
  newestUnansweredSendAt?: Date;
  announcedSince?: Date;
  version: number;
}

/** Reads and writes `gateway_webhook_silence`. */
export class SilenceRepository {
  private readonly silences: Collection<SilenceDoc>;

  constructor(db: Db) {
    this.silences = db.collection<SilenceDoc>("gateway_webhook_silence");
  }

  async find(workspaceId: string): Promise<WorkspaceSilence | undefined> {
    const doc = await this.silences.findOne({ _id: workspaceId });
    return doc ? toSilence(doc) : undefined;
  }

  /** Writes the send times if the stored version is still `expectedVersion` (0: no document yet); false when another writer came first. */
  async saveState(workspaceId: string, state: SilenceState, expectedVersion: number): Promise<boolean> {
    const fields = { oldestUnansweredSendAt: state.oldestUnansweredSendAt, newestUnansweredSendAt: state.newestUnansweredSendAt };
    if (expectedVersion === 0) {
      try {
        await this.silences.insertOne({ _id: workspaceId, ...fields, version: 1 });
        return true;
      } catch (error) {
        if (isDuplicateKeyError(error)) return false;
        throw error;
      }
    }
    const result = await this.silences.updateOne({ _id: workspaceId, version: expectedVersion }, { $set: { ...fields, version: expectedVersion + 1 } });
    return result.modifiedCount === 1;
  }

  /** Remembers that the silence beginning at `since` was announced. */
  async markAnnounced(workspaceId: string, since: Date): Promise<void> {
    await this.silences.updateOne({ _id: workspaceId }, { $set: { announcedSince: since } });
  }

  /** Every workspace that ever had a send recorded after its last webhook (one pass, for the monitor). */
  async *all(): AsyncGenerator<WorkspaceSilence> {
    for await (const doc of this.silences.find({}, { batchSize: 1000 })) yield toSilence(doc);
  }
}

const toSilence = (doc: SilenceDoc): WorkspaceSilence => ({
  workspaceId: doc._id,
  state: {
    ...(doc.oldestUnansweredSendAt ? { oldestUnansweredSendAt: doc.oldestUnansweredSendAt } : {}),
    ...(doc.newestUnansweredSendAt ? { newestUnansweredSendAt: doc.newestUnansweredSendAt } : {}),
  },
  ...(doc.announcedSince ? { announcedSince: doc.announcedSince } : {}),
  version: doc.version,
});
