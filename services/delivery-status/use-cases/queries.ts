/**
 * Read paths: one send, its timeline, a campaign's sends. All workspace-scoped:
 * the workspace is part of every key and filter, so another workspace's send
 * is simply not found.
 */
import { NotFoundError } from "../../shared/errors.ts";
import { decodePageToken, encodePageToken } from "../../shared/paging.ts";
import type { StatusName } from "../send-projection.ts";
import type { SendsRepository, StoredSend, TimelineCursor, TimelineEntry } from "../sends-repository.ts";

export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

/** The send, or NotFoundError. */
export async function getSend(repo: SendsRepository, workspaceId: string, emailId: string): Promise<StoredSend> {
  const send = await repo.get(workspaceId, emailId);
  if (!send) throw new NotFoundError(`send ${emailId}`);
  return send;
}

/** One page of the send's timeline; NotFoundError when the send does not exist. */
export async function listSendEvents(
  repo: SendsRepository,
  query: { workspaceId: string; emailId: string; pageSize: number; pageToken: string },
): Promise<Page<TimelineEntry>> {
  const scope = `timeline|${query.workspaceId}|${query.emailId}`;
  const after = decodePageToken<TimelineCursor>(query.pageToken, scope);
  const send = await getSend(repo, query.workspaceId, query.emailId);
  const entries = await repo.listTimeline(send, after, query.pageSize + 1);
  const items = entries.slice(0, query.pageSize);
  const last = items.at(-1);
  const nextPageToken =
    entries.length > query.pageSize && last ? encodePageToken(scope, [last.eventAtUs, last.receivedAtUs, last.svixId]) : "";
  return { items, nextPageToken };
}

/** The scope of ListSends' page tokens: a token works only with the filters it was made for. */
export const sendsPageScope = (query: { workspaceId: string; campaignId: string; status?: StatusName; subscriberId?: string }) =>
  `sends|${query.workspaceId}|${query.campaignId}|${query.status ?? ""}|${query.subscriberId ?? ""}`;

/** One page of a campaign's sends, optionally by status and/or subscriber. */
export async function listSends(
  repo: SendsRepository,
  query: { workspaceId: string; campaignId: string; status?: StatusName; subscriberId?: string; pageSize: number; pageToken: string },
): Promise<Page<StoredSend>> {
  const scope = sendsPageScope(query);
  const after = decodePageToken<string>(query.pageToken, scope);
  const sends = await repo.listByCampaign(
    query.workspaceId,
    query.campaignId,
    { status: query.status, subscriberId: query.subscriberId },
    after,
    query.pageSize + 1,
  );
  const items = sends.slice(0, query.pageSize);
  const last = items.at(-1);
  return { items, nextPageToken: sends.length > query.pageSize && last ? encodePageToken(scope, last.emailId) : "" };
}
