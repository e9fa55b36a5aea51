/**
 * ExportSubscriberData (GDPR art. 15): what the services hold about one address or subscriber id — the
 * suppression service's own documents first, then every send with its timeline from the delivery status
 * service (DeliveryStatusService.ListSubscriberSends), streamed as it comes. The caller's credentials are
 * passed on, so the delivery status service authorises the same caller. An erased subscriber has
 * nothing to export: its document is under a pseudonym and its sends are erased.
 */
import type { Client } from "@connectrpc/connect";
import type { DeliveryStatusService, SubscriberSend } from "../../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import type { StoredSubscriber } from "../subscriber-repository.ts";
import type { SuppressionDeps } from "../use-cases/deps.ts";
import { maxAddressesPerErasure } from "./request-erasure.ts";

export type SubscriberTarget = { email: string } | { subscriberId: string };

export type SubscriberDataPart = { case: "subscriber"; value: StoredSubscriber } | { case: "send"; value: SubscriberSend };

export async function* exportSubscriberData(
  deps: SuppressionDeps,
  deliveryStatus: Client<typeof DeliveryStatusService>,
  workspaceId: string,
  target: SubscriberTarget,
  headers: Record<string, string>,
): AsyncGenerator<SubscriberDataPart> {
  const subscribers =
    "email" in target
      ? [await deps.subscribers.get(workspaceId, target.email)].filter((found) => found !== undefined)
      : await deps.subscribers.allBySubscriberId(workspaceId, target.subscriberId, maxAddressesPerErasure);
  for (const subscriber of subscribers) yield { case: "subscriber", value: subscriber };
  const subscriber = "email" in target ? { case: "recipient" as const, value: target.email } : { case: "subscriberId" as const, value: target.subscriberId };
  for await (const message of deliveryStatus.listSubscriberSends({ workspaceId, subscriber }, { headers })) {
    if (message.send) yield { case: "send", value: message.send };
  }
}
