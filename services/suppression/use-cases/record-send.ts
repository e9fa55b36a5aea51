/**
 * SendRecorded from delivery status: keep our own attribution copy, note the
 * subscriber id on the address, and apply the events that waited for it.
 */
import type { SendRecorded } from "../../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { PoisonMessageError } from "../../shared/errors.ts";
import { normaliseAddress } from "../address.ts";
import { noteSubscriber } from "../subscriber-state.ts";
import { applyToAddress, type PendingEvent } from "./apply-resend-event.ts";
import { changeSubscriber } from "./change-subscriber.ts";
import type { SuppressionDeps } from "./deps.ts";

export async function recordSend(deps: SuppressionDeps, send: SendRecorded): Promise<void> {
  const recipient = normaliseAddress(send.recipient);
  if (!send.workspaceId || !send.emailId || !recipient) {
    throw new PoisonMessageError("SendRecorded lacks workspace_id or email_id, or has no valid recipient");
  }
  const attribution = {
    workspaceId: send.workspaceId,
    emailId: send.emailId,
    campaignId: send.campaignId,
    subscriberId: send.subscriberId,
    recipient,
  };
  await deps.lock.run(`send:${send.workspaceId}:${send.emailId}`, async () => {
    const pending = await deps.sends.attribute(attribution);
    await changeSubscriber(deps, send.workspaceId, recipient, (state) => noteSubscriber(state, send.subscriberId, deps.now()));
    // Each is idempotent by svix id, so a crash before clearPending only re-applies no-ops.
    for (const raw of pending) {
      await applyToAddress(deps, send.workspaceId, recipient, JSON.parse(raw) as PendingEvent, attribution);
    }
    await deps.sends.clearPending(send.workspaceId, send.emailId, pending);
  });
}
