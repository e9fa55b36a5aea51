/**
 * Storage of erasure requests and their progress: `suppression_erasures`, `_id: "<ws>:<erasureId>"`. A
 * record holds no address — the count of addresses, who asked, which services answered — plus, until
 * JetStream acknowledged them, the serialised ErasureRequested and its audit entry (`outbox`, written in
 * the same insert as the record, so an accepted request is published even after a crash), and the
 * stream sequence of the published request, which is deleted once every service answered.
 */
import type { Collection, Db } from "mongodb";

/** One service's answer. */
export interface ServiceAnswer {
  doneAtMs: number;
  documents: number;
}

export interface ErasureRecord {
  workspaceId: string;
  erasureId: string;
  requestedAtMs: number;
  caller: string;
  actor: string;
  addresses: number;
  purgeStream: boolean;
  /** Answers by service name ("streams" for the purge). */
  services: Record<string, ServiceAnswer>;
  /** DOMAIN_EVENTS sequence of the published ErasureRequested, until it is deleted. */
  requestSeq?: number;
  /** When every part was done and the request message deleted. */
  doneAtMs?: number;
  /** Serialised outbox entries not yet acknowledged by JetStream. */
  outbox: string[];
}

type ErasureDoc = ErasureRecord & { _id: string };

const erasureKey = (workspaceId: string, erasureId: string) => `${workspaceId}:${erasureId}`;

const recordOf = ({ _id, ...record }: ErasureDoc): ErasureRecord => ({ ...record, services: record.services ?? {}, outbox: record.outbox ?? [] });

export class ErasureRepository {
  readonly #erasures: Collection<ErasureDoc>;

  constructor(db: Db) {
    this.#erasures = db.collection<ErasureDoc>("suppression_erasures");
  }

  async create(record: ErasureRecord): Promise<void> {
    await this.#erasures.insertOne({ _id: erasureKey(record.workspaceId, record.erasureId), ...record });
  }

  async get(workspaceId: string, erasureId: string): Promise<ErasureRecord | undefined> {
    const doc = await this.#erasures.findOne({ _id: erasureKey(workspaceId, erasureId) });
    return doc ? recordOf(doc) : undefined;
  }

  /** Removes a published outbox entry (and remembers the request's sequence when it was the request). */
  async published(workspaceId: string, erasureId: string, entry: string, requestSeq?: number): Promise<void> {
    await this.#erasures.updateOne(
      { _id: erasureKey(workspaceId, erasureId) },
      { $pull: { outbox: entry }, ...(requestSeq !== undefined ? { $set: { requestSeq } } : {}) },
    );
  }

  /** Records a service's answer unless one is recorded already; returns the record after. */
  async recordAnswer(workspaceId: string, erasureId: string, service: string, answer: ServiceAnswer): Promise<ErasureRecord | undefined> {
    const _id = erasureKey(workspaceId, erasureId);
    await this.#erasures.updateOne({ _id, [`services.${service}`]: { $exists: false } }, { $set: { [`services.${service}`]: answer } });
    return await this.get(workspaceId, erasureId);
  }

  /** Marks the erasure done (its request message deleted). */
  async markDone(workspaceId: string, erasureId: string, doneAtMs: number): Promise<void> {
    await this.#erasures.updateOne({ _id: erasureKey(workspaceId, erasureId), doneAtMs: { $exists: false } }, { $set: { doneAtMs }, $unset: { requestSeq: "" } });
  }

  /** Records that hold unpublished entries (few: an entry lives from the insert to the ack; no index needed). */
  async withOutbox(limit: number): Promise<ErasureRecord[]> {
    const docs = await this.#erasures.find({ "outbox.0": { $exists: true } }).limit(limit).toArray();
    return docs.map(recordOf);
  }
}
