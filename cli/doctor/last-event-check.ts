/**
 * When did a verified event of this workspace last arrive, and which? The
 * newest envelope the gateway stored on RESEND_EVENTS (type, provider, when),
 * else GetWebhookHealth's last accepted time (the stream keeps 7 days).
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { GetWebhookHealthResponse } from "../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { decodeResendEvent } from "../../services/shared/resend-events.ts";
import { envelopeProvider } from "../../services/shared/providers.ts";
import { RESEND_EVENTS_STREAM, type NatsHandles } from "../../services/shared/nats.ts";
import { ago } from "../output.ts";
import { check, type Check } from "./check.ts";
import { providerList } from "./webhook-fixes.ts";

/** The newest envelope of the workspace on the stream. */
export interface LastStoredEvent {
  type: string;
  /** Undefined when this build cannot read the envelope. */
  provider?: string;
  storedAt: Date;
}

export async function lastStoredEvent(nats: NatsHandles, workspaceId: string): Promise<LastStoredEvent | undefined> {
  const stored = await nats.jsm.streams.getMessage(RESEND_EVENTS_STREAM, { last_by_subj: `resend.events.${workspaceId}.>` });
  if (!stored) return undefined;
  let type = stored.subject.split(".").slice(3).join(".");
  let provider: string | undefined;
  try {
    const event = decodeResendEvent(stored.data);
    type = event.type;
    provider = envelopeProvider(event.provider) ?? `provider ${event.provider}`;
  } catch {
    // An envelope this build cannot read still says when the gateway stored it.
  }
  return { type, provider, storedAt: stored.time };
}

const day = 86_400_000;

export function lastEventCheck(workspaceId: string, gatewayUrl: string, health: GetWebhookHealthResponse | undefined, stored: LastStoredEvent | undefined): Check {
  const accepted = health?.lastAcceptedTime ? timestampDate(health.lastAcceptedTime) : undefined;
  // The health time is the gateway's clock after the publish, the stored one the server's: a stored event
  // within a minute of it is that event (health is flushed every few seconds, and a duplicate is not "new").
  const fromStream = stored !== undefined && (!accepted || stored.storedAt.getTime() >= accepted.getTime() - 60_000);
  const newest = fromStream ? stored.storedAt : accepted;
  if (!newest) {
    return check("last event", "warn", "no verified event of this workspace has ever been stored (or none in the stream's retention)", {
      fixes: [
        `point the provider's webhook at ${gatewayUrl}/webhooks/<${providerList}>?workspaceId=${workspaceId}`,
        `to try the path end to end: "ngsreach simulate --workspace ${workspaceId} --secret -" signs Resend samples with the secret read from standard input`,
      ],
    });
  }
  const what = fromStream ? `${stored.type}${stored.provider ? ` from ${stored.provider}` : " (an envelope this build cannot read)"}, ` : "";
  const summary = `${what}stored ${newest.toISOString()} (${ago(newest)})`;
  if (Date.now() - newest.getTime() <= day) return check("last event", "ok", summary);
  return check("last event", "warn", `none in the last 24 h; the last: ${summary}`, {
    fixes: ["if the workspace sent email since, check the provider's webhook settings (enabled, URL) and its delivery log for the gateway's answers"],
  });
}
