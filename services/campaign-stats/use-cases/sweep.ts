/**
 * Background repair, run at start-up and periodically:
 * - alerts left in a campaign's outbox, and bulk-sender crossings left in a
 *   workspace-day's (crash between the write and the publish), are published — their message ids make a repeat harmless;
 * - delta refs left in documents' `recent` lists (crash after the delta was
 *   done, or an idle document) are dropped once their send no longer lists the
 *   delta, or a done round confirms it, which keeps those lists short — and lets retention
 *   delete those sends, which it keeps while a document lists a ref of theirs.
 *   Only documents idle for `pruneIdleMs`, or whose list is long: a document
 *   being written drops its done refs itself on its next write, and pruning
 *   every fresh one cost a write each, all at once — when each event had a
 *   campaign of its own (bench/e2e phase 2) a burst of thousands of writes
 *   every 30 s, which put event-to-queryable p99 at 384–570 ms against 172–234
 *   without it (2026-12-04 03:29, alternating runs).
 * Both scan their collections (campaign-sized, not send-sized).
 */
import type { IngestDeps } from "./ingest.ts";
import { publishDayOutbox, publishOutbox, stillPending } from "./ingest.ts";

/** Which documents' refs a sweep prunes: those written `idleMs` ago or earlier, and any listing more than `longList`. */
export interface PruneRule {
  idleMs: number;
  longList: number;
}

export const defaultPruneRule: PruneRule = { idleMs: 5 * 60_000, longList: 256 };

/**
 * Runs one sweep; returns what it did (for logs and tests). `pruneRefs: false` skips the refs: their scan reads
 * every campaign, hour, link and day document (FerretDB decodes each), so the service runs it once per
 * `idleMs` only — every 30 s, it was itself what put the p99 of e2e phase 2 at 661–975 ms (219–288 without).
 */
export async function sweep(
  deps: IngestDeps,
  prune: PruneRule = defaultPruneRule,
  { pruneRefs = true }: { pruneRefs?: boolean } = {},
): Promise<{ alertsPublished: number; refsPruned: number }> {
  let alertsPublished = 0;
  // By the outbox flag every 30 s (an index search); the scan, which also finds documents written before
  // the flag or by an older instance, only with the refs' own scan.
  const scan = pruneRefs;
  for (const campaign of await deps.repo.campaignsWithOutbox({ scan })) {
    await publishOutbox(deps, campaign.workspaceId, campaign.campaignId, campaign.outbox);
    alertsPublished += campaign.outbox.length;
  }
  for (const day of await deps.repo.daysWithOutbox({ scan })) {
    await publishDayOutbox(deps, day.workspaceId, day.day, day.outbox);
    alertsPublished += day.outbox.length;
  }
  let refsPruned = 0;
  if (!pruneRefs) return { alertsPublished, refsPruned };
  const idleSince = deps.now() - prune.idleMs;
  for (const doc of await deps.repo.documentsWithRecent()) {
    // A document written before updatedAt existed counts as idle.
    if ((doc.updatedAt ?? 0) > idleSince && doc.recent.length <= prune.longList) continue;
    const asked = doc.recent.filter((ref) => !deps.done.has(`${doc.workspaceId}:${ref}`));
    const pending = asked.length === 0 ? new Set<string>() : await stillPending(deps, asked.map((ref) => ({ workspaceId: doc.workspaceId, ref })));
    const finished = new Set(doc.recent.filter((ref) => !pending.has(`${doc.workspaceId}:${ref}`)));
    if (finished.size > 0) {
      await deps.repo.pruneRecent(doc.kind, doc.id, (ref) => finished.has(ref));
      refsPruned += finished.size;
    }
  }
  return { alertsPublished, refsPruned };
}
