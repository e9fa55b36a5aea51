/**
 * Every way a webhook request can end, and the HTTP status of each — the
 * status table of DESIGN.md in one place.
 */

export const outcomeStatus = {
  accepted: 200,
  duplicate: 200,
  method_not_allowed: 405,
  bad_workspace_id: 400,
  too_large: 413,
  unknown_workspace: 404,
  missing_headers: 401,
  bad_signature: 401,
  expired_timestamp: 401,
  // Other providers' verification failures (provider-adapter.ts RejectReason), also final 401s.
  bad_credentials: 401,
  topic_not_allowed: 401,
  bad_certificate_url: 401,
  token_reused: 401,
  bad_body: 400,
  unavailable: 503,
  secret_undecryptable: 503,
  // Amazon SNS control messages the gateway handled itself (nothing is stored on the stream).
  subscription_confirmed: 200,
  unsubscribe_confirmed: 200,
} as const;

export type Outcome = keyof typeof outcomeStatus;

/** Counted per workspace in webhook health (the rest only in metrics). */
export const healthCounters = [
  "accepted",
  "duplicate",
  "bad_signature",
  "expired_timestamp",
  "unknown_workspace",
  "bad_body",
  "too_large",
  "unavailable",
  "secret_undecryptable",
  // Not an outcome: failures answered 429 (also counted under their outcome).
  "rate_limited",
  "subscription_confirmed",
  "unsubscribe_confirmed",
] as const;
export type HealthCounter = (typeof healthCounters)[number];

/** Outcomes a workspace's health counts as a bad signature: every way a request fails to prove who sent it. */
const countedAsBadSignature = new Set<Outcome>(["missing_headers", "bad_credentials", "topic_not_allowed", "bad_certificate_url", "token_reused"]);

/** The health counter of an outcome, if it has one. */
export function healthCounterOf(outcome: Outcome): HealthCounter | undefined {
  if (countedAsBadSignature.has(outcome)) return "bad_signature";
  return (healthCounters as readonly string[]).includes(outcome) ? (outcome as HealthCounter) : undefined;
}

const messages: Record<Outcome, string> = {
  accepted: "event stored",
  duplicate: "event already stored",
  method_not_allowed: "use POST",
  bad_workspace_id: "workspaceId query parameter missing or not [A-Za-z0-9_-]{1,64}",
  too_large: "body larger than the limit",
  unknown_workspace: "unknown workspace, or no webhook credential of this provider configured for it",
  missing_headers: "missing or malformed signature (Resend: svix-id / svix-timestamp / svix-signature headers)",
  bad_signature: "signature matches no webhook secret of this workspace",
  expired_timestamp: "the signed timestamp is more than 5 minutes from now",
  bad_credentials: "HTTP Basic credentials match none of this workspace's Postmark credentials",
  topic_not_allowed: "SNS TopicArn is not among this workspace's allowed topics",
  bad_certificate_url: "SNS SigningCertURL is not https on an Amazon SNS host",
  token_reused: "this Mailgun signature token was already used with another event",
  bad_body: "signed body is not the provider's event JSON (Resend: an object with a string type)",
  unavailable: "temporarily unavailable, nothing was stored; retry",
  // 503, not 401: the fault is the gateway's key configuration, and Resend's retries carry the events until it is fixed.
  secret_undecryptable: "the gateway cannot decrypt this workspace's webhook secret (SECRETS_KEY); nothing was stored; retry",
  subscription_confirmed: "SNS subscription confirmed",
  unsubscribe_confirmed: "SNS unsubscribe confirmation noted",
};

/** Refused because this address kept failing for the workspace (a request that verifies is never refused). */
export const rateLimitedStatus = 429;
const rateLimitedBody = JSON.stringify({
  error: "rate_limited",
  message: "too many failed webhook requests from this address for this workspace; requests that verify are still accepted",
});

const bodies = new Map<Outcome, string>();

/** The short JSON body a caller sees (built once per outcome). */
export function outcomeBody(outcome: Outcome, rateLimited = false): string {
  if (rateLimited) return rateLimitedBody;
  let body = bodies.get(outcome);
  if (body === undefined) {
    body = JSON.stringify(outcomeStatus[outcome] === 200 ? { status: outcome } : { error: outcome, message: messages[outcome] });
    bodies.set(outcome, body);
  }
  return body;
}
