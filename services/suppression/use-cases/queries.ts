/** Read paths: the pre-send check, one subscriber, and suppressions listed or exported. */
import { InvalidArgumentError, NotFoundError } from "../../shared/errors.ts";
import { decodePageToken, encodePageToken } from "../../shared/paging.ts";
import type { StoredSubscriber } from "../subscriber-repository.ts";
import type { Reason } from "../subscriber-state.ts";
import { documentOf } from "./change-subscriber.ts";
import type { SuppressionDeps } from "./deps.ts";
import type { CheckedSuppression } from "../check-index/suppressed-addresses.ts";

/**
 * Current suppressions of the given (already normalised) addresses; duplicates are looked up once. The
 * check index answers when it can prove itself current; what it cannot answer is read from the database.
 */
export async function checkSuppressions(
  deps: SuppressionDeps,
  workspaceId: string,
  emails: string[],
): Promise<Map<string, CheckedSuppression>> {
  const distinct = [...new Set(emails)];
  const indexed = await deps.checkIndex?.answer(workspaceId, distinct);
  if (!indexed) return await fromDatabase(deps, workspaceId, distinct);
  if (indexed.fromDatabase.length === 0) return indexed.found;
  for (const [email, record] of await fromDatabase(deps, workspaceId, indexed.fromDatabase)) indexed.found.set(email, record);
  return indexed.found;
}

async function fromDatabase(deps: SuppressionDeps, workspaceId: string, emails: string[]): Promise<Map<string, CheckedSuppression>> {
  const hasher = deps.hasher;
  const erasedKeys = hasher ? (email: string) => hasher.candidatesOf(workspaceId, email) : undefined;
  return await deps.subscribers.suppressionsOf(workspaceId, emails, deps.lookup, erasedKeys);
}

/** One address by normalised email or by subscriber id. */
export async function getSubscriber(
  deps: SuppressionDeps,
  workspaceId: string,
  by: { email: string } | { subscriberId: string },
): Promise<StoredSubscriber> {
  // By email, an erased address is found under its pseudonym (shown as erased, without the address).
  const found =
    "email" in by
      ? (await documentOf(deps, workspaceId, by.email)).stored
      : await deps.subscribers.findBySubscriberId(workspaceId, by.subscriberId);
  if (!found) throw new NotFoundError("email" in by ? "email" : "subscriber_id");
  return found;
}

export interface SuppressionPage {
  items: StoredSubscriber[];
  nextPageToken: string;
}

const pageScope = (workspaceId: string, reason: Reason | undefined) => `suppressions|${workspaceId}|${reason ?? "*"}`;

/** A page of current suppressions ordered by address. */
export async function listSuppressions(
  deps: SuppressionDeps,
  workspaceId: string,
  reason: Reason | undefined,
  size: number,
  pageToken: string,
): Promise<SuppressionPage> {
  const scope = pageScope(workspaceId, reason);
  const after = decodePageToken<{ after: string }>(pageToken, scope);
  if (after !== undefined && typeof after.after !== "string") throw new InvalidArgumentError("page_token", "invalid page token");
  const items = await deps.subscribers.listSuppressed(workspaceId, reason, after?.after, size + 1);
  const more = items.length > size;
  const page = more ? items.slice(0, size) : items;
  const last = page.at(-1);
  return { items: page, nextPageToken: more && last ? encodePageToken(scope, { after: last.state.email }) : "" };
}

/** Every current suppression, in address order, chunk by chunk. */
export async function* exportSuppressions(
  deps: SuppressionDeps,
  workspaceId: string,
  reason: Reason | undefined,
  chunkSize = 500,
): AsyncGenerator<StoredSubscriber[]> {
  let after: string | undefined;
  for (;;) {
    const chunk = await deps.subscribers.listSuppressed(workspaceId, reason, after, chunkSize);
    if (chunk.length > 0) yield chunk;
    if (chunk.length < chunkSize) return;
    after = chunk.at(-1)?.state.email;
  }
}
