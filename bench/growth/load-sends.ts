/**
 * Registered sends in delivery-status's own collection, through its repository's bulk write (the shape
 * RecordSend stores, with no event yet): a campaign to list, or filler of other campaigns.
 */
import type { Db } from "mongodb";
import { noneRetired, projectSend, type Registration } from "../../services/delivery-status/send-projection.ts";
import { SendsRepository, type SendWrite } from "../../services/delivery-status/sends-repository.ts";

/** The email id of send `i` of a campaign: zero-padded, so email-id order is index order. */
export const growthEmailId = (campaignId: string, i: number) => `${campaignId}-${String(i).padStart(8, "0")}`;

/** Sends [start, count) of `campaignId`, `batch` per bulk write, `inFlight` writes at a time. */
export async function loadDeliverySends(options: { db: Db; workspaceId: string; campaignId: string; start?: number; count: number; batch: number; inFlight: number }) {
  const repository = new SendsRepository(options.db);
  await repository.ensureIndexes();
  const base = Date.UTC(2026, 10, 20, 9) * 1000;
  const started = performance.now();
  let next = options.start ?? 0;
  const worker = async () => {
    while (next < options.count) {
      const from = next;
      const to = Math.min(options.count, from + options.batch);
      next = to;
      const writes: SendWrite[] = [];
      for (let i = from; i < to; i++) {
        const registration: Registration = { campaignId: options.campaignId, subscriberId: `sub_${i}`, recipient: `growth.${i}@list-${i % 211}.example.org`, sentAtUs: base + i, recordedAtUs: base + i, caller: "growth-bench" };
        const send = { workspaceId: options.workspaceId, emailId: growthEmailId(options.campaignId, i), version: 1, registration, facts: [], retired: noneRetired, timelinePages: 0, state: projectSend(registration, []), updatedAtMs: Date.now(), pendingSendRecorded: false };
        writes.push({ send, markSendRecordedPending: false });
      }
      if (!(await repository.writeMany(writes))) throw new Error(`growth bench: sends ${from}..${to} of ${options.campaignId} were not all inserted`);
    }
  };
  await Promise.all(Array.from({ length: options.inFlight }, worker));
  const loaded = options.count - (options.start ?? 0);
  return { loaded, seconds: (performance.now() - started) / 1000 };
}
