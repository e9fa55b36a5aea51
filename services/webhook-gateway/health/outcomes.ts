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
  bad_body: 400,
  unavailable: 503,
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
] as const;
export type HealthCounter = (typeof healthCounters)[number];

/** Missing signature headers count as a bad signature in a workspace's health. */
export function healthCounterOf(outcome: Outcome): HealthCounter | undefined {
  if (outcome === "missing_headers") return "bad_signature";
  return (healthCounters as readonly string[]).includes(outcome) ? (outcome as HealthCounter) : undefined;
}

const messages: Record<Outcome, string> = {
  accepted: "event stored",
  duplicate: "event already stored",
  method_not_allowed: "use POST",
  bad_workspace_id: "workspaceId query parameter missing or not [A-Za-z0-9_-]{1,64}",
  too_large: "body larger than the limit",
  unknown_workspace: "unknown workspace, or no webhook secret configured for it",
  missing_headers: "missing or malformed svix-id / svix-timestamp / svix-signature headers",
  bad_signature: "signature matches no webhook secret of this workspace",
  expired_timestamp: "svix-timestamp is more than 5 minutes from now",
  bad_body: "signed body is not JSON with a string type",
  unavailable: "temporarily unavailable, nothing was stored; retry",
};

const bodies = new Map<Outcome, string>();

/** The short JSON body a caller sees (built once per outcome). */
export function outcomeBody(outcome: Outcome): string {
  let body = bodies.get(outcome);
  if (body === undefined) {
    body = JSON.stringify(outcomeStatus[outcome] === 200 ? { status: outcome } : { error: outcome, message: messages[outcome] });
    bodies.set(outcome, body);
  }
  return body;
}
