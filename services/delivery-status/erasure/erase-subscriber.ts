/**
 * delivery-status's part of an erasure (issue 17, GDPR art. 17), the `erase` of its
 * `delivery-status-erasures` consumer: every send of the workspace to one of the request's addresses or
 * with its subscriber id loses the address, the subscriber id, click IP addresses and user agents, and
 * the address in its texts; statuses, times, counts and campaigns stay. Page by page, as an address may
 * have thousands of sends; an erased send no longer matches, so a second run finds nothing and changes
 * nothing, and a redelivery after a crash finds exactly what is left.
 */
import type { ErasureRequested } from "../../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { mapLimited } from "../../shared/map-limited.ts";
import { normaliseAddress } from "../send-projection.ts";
import type { SubscriberMatch } from "../sends-repository.ts";
import { eraseSend, type EraseDeps } from "./erase-send.ts";

const sendsPerPage = 100;

/** Erases the subscriber's sends; returns how many documents (sends and timeline entries) changed. */
export async function eraseSubscriber(deps: EraseDeps, request: ErasureRequested): Promise<number> {
  const subscriber = subscriberOf(request);
  if (!subscriber) return 0;
  const erasure = { erasureId: request.erasureId, atMs: deps.now() };
  let documents = 0;
  let after: string | undefined;
  do {
    const page = await deps.repo.listBySubscriber(request.workspaceId, subscriber, after, sendsPerPage);
    const changed = await mapLimited(page.sends, 4, (send) => eraseSend(deps, send.workspaceId, send.emailId, subscriber, erasure));
    documents += changed.reduce((sum, count) => sum + count, 0);
    after = page.next;
  } while (after !== undefined);
  return documents;
}

/** Whom the request names; undefined when it names nobody (nothing to erase). */
function subscriberOf(request: ErasureRequested): SubscriberMatch | undefined {
  const emails = [...new Set(request.emails.map(normaliseAddress).filter((email) => email !== ""))];
  const subscriberId = request.subscriberId || undefined;
  return emails.length > 0 || subscriberId ? { emails, subscriberId } : undefined;
}
