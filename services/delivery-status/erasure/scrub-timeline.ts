/**
 * Rewrites a send's timeline entries without personal data, a chunk of entries at a time (an address may
 * have sends of thousands of events). Only entries that hold some are written, and only their detail
 * fields: a second run writes nothing.
 */
import type { SendsRepository } from "../sends-repository.ts";
import { erasedDetail, type Scrub } from "./personal-data.ts";

const entriesPerChunk = 500;

/** Scrubs the entries of the send's events among `svixIds`; returns how many entries it changed. */
export async function scrubTimeline(repo: SendsRepository, workspaceId: string, emailId: string, svixIds: readonly string[], scrub: Scrub): Promise<number> {
  let changed = 0;
  for (let i = 0; i < svixIds.length; i += entriesPerChunk) {
    const entries = await repo.timelineEntries(workspaceId, emailId, svixIds.slice(i, i + entriesPerChunk));
    const updates = entries.flatMap((entry) => {
      const detail = erasedDetail(entry, scrub);
      return detail ? [{ svixId: entry.svixId, detail }] : [];
    });
    changed += await repo.setTimelineDetails(workspaceId, emailId, updates);
  }
  return changed;
}
