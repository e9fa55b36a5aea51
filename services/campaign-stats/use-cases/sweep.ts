/**
 * Background repair, run at start-up and periodically:
 * - alerts left in a campaign's outbox, and bulk-sender crossings left in a
 *   workspace-day's (crash between the write and the publish), are published — their message ids make a repeat harmless;
 * - delta refs left in documents' `recent` lists (crash after the delta was
 *   done, or an idle document) are dropped once their send confirms the delta
 *   is no longer pending, which keeps those lists short.
 * Both scan their collections (campaign-sized, not send-sized).
 */
import type { IngestDeps } from "./ingest.ts";
import { publishDayOutbox, publishOutbox, splitDeltaRef } from "./ingest.ts";

/** Runs one sweep; returns what it did (for logs and tests). */
export async function sweep(deps: IngestDeps): Promise<{ alertsPublished: number; refsPruned: number }> {
  let alertsPublished = 0;
  for (const campaign of await deps.repo.campaignsWithOutbox()) {
    await publishOutbox(deps, campaign.workspaceId, campaign.campaignId, campaign.outbox);
    alertsPublished += campaign.outbox.length;
  }
  for (const day of await deps.repo.daysWithOutbox()) {
    await publishDayOutbox(deps, day.workspaceId, day.day, day.outbox);
    alertsPublished += day.outbox.length;
  }
  let refsPruned = 0;
  for (const doc of await deps.repo.documentsWithRecent()) {
    const finished = new Set<string>();
    for (const ref of doc.recent) {
      if (deps.done.has(`${doc.workspaceId}:${ref}`)) {
        finished.add(ref);
        continue;
      }
      const [emailId, seq] = splitDeltaRef(ref);
      const send = await deps.repo.getSend(doc.workspaceId, emailId);
      if (!send || !send.pending.some((delta) => delta.seq === seq)) finished.add(ref);
    }
    if (finished.size > 0) {
      await deps.repo.pruneRecent(doc.kind, doc.id, (ref) => finished.has(ref));
      refsPruned += finished.size;
    }
  }
  return { alertsPublished, refsPruned };
}
