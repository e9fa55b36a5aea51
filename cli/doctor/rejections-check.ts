/**
 * Which webhooks the gateway refused in the last 24 hours, by reason, with
 * the fix for each — GetWebhookHealth's counts, which cover requests for this
 * workspace id only.
 */
import type { GetWebhookHealthResponse } from "../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { time } from "../output.ts";
import { check, type Check } from "./check.ts";
import { checkWorkspaceInUrl, secretsKeyFix, setSecretCommand } from "./webhook-fixes.ts";

interface Rejection {
  answer: string;
  reason: string;
  count: bigint;
  fix: string;
}

function rejectionsOf(workspaceId: string, health: GetWebhookHealthResponse): Rejection[] {
  const r = health.rejected;
  return [
    {
      answer: "401",
      reason: "bad signature",
      count: r?.badSignature ?? 0n,
      fix: `the signature matches no credential of the workspace: re-copy the signing secret from the provider's webhook settings (Resend: the Signing secret, whsec_...; another provider: its credential, as the credentials check lists) and set it: ${setSecretCommand(workspaceId)}`,
    },
    {
      answer: "401",
      reason: "expired timestamp",
      count: r?.expiredTimestamp ?? 0n,
      fix: "the signed timestamp is more than 5 minutes from the gateway's clock: fix the gateway host's clock (NTP); an old request replayed by hand is refused too",
    },
    {
      answer: "404",
      reason: "no credential",
      count: r?.unknownWorkspace ?? 0n,
      fix: `webhooks arrived while the workspace had no credential for their provider: ${setSecretCommand(workspaceId)}; ${checkWorkspaceInUrl(workspaceId)}`,
    },
    {
      answer: "400",
      reason: "bad body",
      count: r?.badBody ?? 0n,
      fix: `the body verified but is not an event: check the provider's webhook URL names the right endpoint (/webhooks/<provider>) and ${checkWorkspaceInUrl(workspaceId).replace(/^check that /, "that ")}`,
    },
    { answer: "413", reason: "too large", count: r?.tooLarge ?? 0n, fix: "the body is above the gateway's limit: raise WEBHOOK_MAX_BODY_BYTES" },
    {
      answer: "503",
      reason: "secret undecryptable",
      count: health.secretUndecryptable,
      fix: secretsKeyFix(health.undecryptableKeyIds.length ? health.undecryptableKeyIds : ["(see ngsreach health)"]),
    },
    {
      answer: "503",
      reason: "unavailable",
      count: health.unavailable,
      fix: "NATS or the settings database was unreachable; nothing was stored and the provider retries: see the services' checks",
    },
  ];
}

export function rejectionsCheck(workspaceId: string, health: GetWebhookHealthResponse): Check {
  const since = time(health.windowStartTime);
  const found = rejectionsOf(workspaceId, health).filter((rejection) => rejection.count > 0n);
  const details = found.map((rejection) => `${rejection.answer} ${rejection.reason}: ${rejection.count}`);
  if (health.rateLimited > 0n) details.push(`429 rate limited: ${health.rateLimited} (failed requests from an address that kept failing; counted above by reason too)`);
  const fixes = found.map((rejection) => `${rejection.answer} ${rejection.reason}: ${rejection.fix}`);
  if (health.snsUnsubscribed > 0n) {
    details.push(`SNS unsubscribed: ${health.snsUnsubscribed} (an SES subscription to this endpoint was deleted)`);
    fixes.push("SES events stop until the endpoint is subscribed to the topic again (SNS console: Create subscription, HTTPS, this endpoint's URL)");
  }
  const total = found.reduce((sum, rejection) => sum + rejection.count, 0n);
  const accepted = health.accepted + health.duplicate;
  if (total === 0n && fixes.length === 0) return check("rejections", "ok", `none since ${since} (${accepted} request(s) accepted)`);
  // Refused and nothing got through: events are lost (or held at the provider) until it is fixed. A 503 for an
  // outage alone is retried by the provider and gets through once NATS or the database is back.
  const refusedOnly = accepted === 0n && found.some((rejection) => rejection.reason !== "unavailable");
  const summary = `${total} request(s) refused since ${since}, ${accepted} accepted${refusedOnly ? ": nothing got through" : ""}`;
  return check("rejections", refusedOnly ? "fail" : "warn", summary, { details, fixes });
}
