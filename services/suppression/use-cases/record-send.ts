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
import { isPseudonym } from "../erasure/address-hash.ts";
import type { SuppressionDeps } from "./deps.ts";

export async function recordSend(deps: SuppressionDeps, send: SendRecorded): Promise<void> {
  const recipient = normaliseAddress(send.recipient);
  if (!send.workspaceId || !send.emailId || !recipient) {
    throw new PoisonMessageError("SendRecorded lacks workspace_id or email_id, or has no valid recipient");
  }
  await deps.lock.run(`send:${send.workspaceId}:${send.emailId}`, async () => {
    // Noted first: the outcome says which document the address has — its own, or, erased, its pseudonym's
    // (a send to an erased address is kept under the pseudonym, without the subscriber id, so its events
    // still reach the erased copy and the address is not stored again). No second lookup.
    const noted = await changeSubscriber(deps, send.workspaceId, recipient, (state) => noteSubscriber(state, send.subscriberId, deps.now()));
    const key = noted.state.email;
    const attribution = {
      workspaceId: send.workspaceId,
      emailId: send.emailId,
      campaignId: send.campaignId,
      subscriberId: isPseudonym(key) ? "" : send.subscriberId,
      recipient: key,
    };
    const pending = await deps.sends.attribute(attribution);
    // Each is idempotent by svix id, so a crash before clearPending only re-applies no-ops.
    for (const raw of pending) {
      await applyToAddress(deps, send.workspaceId, key, JSON.parse(raw) as PendingEvent, attribution);
    }
    await deps.sends.clearPending(send.workspaceId, send.emailId, pending);
  });
}
