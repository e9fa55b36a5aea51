/**
 * The story of one webhook, once its workspace id and body were read:
 * find the workspace's keys (cached), verify the signature over the raw
 * bytes, only then parse, publish to JetStream with a message id from
 * (workspace, svix-id), and answer success only once JetStream acknowledged.
 * A request that fails verification costs nothing past the cached keys once
 * its source keeps failing for the workspace (then it is answered 429); one
 * that verifies is never refused, whatever its source.
 */
import type { ResendEvent } from "../../../gen/ngsreach/events/v1/resend_event_pb.ts";
import {
  BadEventBodyError,
  encodeResendEvent,
  eventMessageId,
  eventSubject,
  parseResendEvent,
} from "../../shared/resend-events.ts";
import type { Outcome } from "../health/outcomes.ts";
import { configuredFor, type SecretCache, type WorkspaceKeys } from "../workspace/secret-cache.ts";
import { PublishError, type JetStreamPublisher } from "./jetstream-publisher.ts";
import { verifyWebhook } from "./signature.ts";
import { withSendSpan } from "../../shared/tracing/nats-spans.ts";
import { withSpanSync } from "../../shared/tracing/spans.ts";
import type { SourceLimiter } from "./source-limiter.ts";

export interface ReceiveDeps {
  secrets: SecretCache;
  /** Sources that keep failing verification per workspace (none: nothing is limited). */
  limiter?: SourceLimiter;
  publish(event: ResendEvent): Promise<{ duplicate: boolean }>;
  /** Observes verification time in seconds (metrics). */
  timeVerify?(seconds: number): void;
}

export interface WebhookRequest {
  workspaceId: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  receivedAtMs: number;
  /** The client's address (the socket's remote address). */
  source?: string;
}

export interface ReceiveResult {
  outcome: Outcome;
  /** False when the workspace was never configured (its counts go to metrics only). */
  workspaceExists: boolean;
  svixId?: string;
  type?: string;
  error?: unknown;
  /** Failed verification from a source that keeps failing for this workspace: answered 429. */
  rateLimited?: boolean;
  /** Key ids of the workspace's secrets that SECRETS_KEY cannot open (outcome secret_undecryptable). */
  undecryptableKeyIds?: string[];
  /** Events the request carried (a SendGrid batch holds many). */
  events?: number;
  /** Why a verified body could not be read (never personal data: adapters name fields, not values). */
  detail?: string;
}

/** A signature the cached keys reject re-reads them when they are older than this. */
const staleKeysMs = 250;

export async function receiveWebhook(deps: ReceiveDeps, request: WebhookRequest): Promise<ReceiveResult> {
  let workspace: WorkspaceKeys;
  try {
    workspace = await deps.secrets.get(request.workspaceId);
  } catch (error) {
    return { outcome: "unavailable", workspaceExists: false, error };
  }
  const result = (outcome: Outcome, extra: Partial<ReceiveResult> = {}) => ({
    outcome,
    workspaceExists: workspace.exists,
    ...extra,
  });
  if (!configuredFor(workspace, "resend")) return result("unknown_workspace");

  const verify = (keys: typeof workspace.keys) => {
    const started = performance.now();
    const outcome = withSpanSync("verify resend", { attributes: { "ngsreach.provider": "resend" } }, (span) => {
      const verdict = verifyWebhook(request.headers, request.body, keys.map((active) => active.key), Math.floor(request.receivedAtMs / 1000));
      span?.setAttribute("ngsreach.verify.outcome", verdict.ok ? "ok" : verdict.reason);
      return verdict;
    });
    deps.timeVerify?.((performance.now() - started) / 1000);
    return outcome;
  };
  let verified = verify(workspace.keys);
  if (!verified.ok && verified.reason === "bad_signature" && !deps.limiter?.isLimited(request.workspaceId, request.source)) {
    // Maybe signed with a secret another instance just rotated in: look once more, at most every so often.
    const fresher = await deps.secrets.refreshIfOlder(request.workspaceId, staleKeysMs).catch(() => undefined);
    if (fresher && fresher.keys.length > 0) {
      workspace = fresher;
      verified = verify(fresher.keys);
    }
  }
  if (!verified.ok) {
    const unreadable = workspace.undecryptable.filter((secret) => secret.provider === "resend");
    if (verified.reason === "bad_signature" && unreadable.length > 0) {
      // It may be signed with the secret the gateway cannot read: not the sender's fault, so no 401, no 429,
      // and no failure counted against its source.
      return result("secret_undecryptable", { undecryptableKeyIds: unreadable.map((secret) => secret.keyId) });
    }
    return result(verified.reason, { rateLimited: deps.limiter?.fail(request.workspaceId, request.source) ?? false });
  }
  deps.limiter?.succeed(request.workspaceId, request.source);

  let event: ResendEvent;
  try {
    event = parseResendEvent({
      workspaceId: request.workspaceId,
      svixId: verified.id,
      receivedAtMs: request.receivedAtMs,
      rawBody: request.body,
    });
  } catch (error) {
    if (error instanceof BadEventBodyError) return result("bad_body", { svixId: verified.id });
    throw error;
  }
  try {
    const { duplicate } = await deps.publish(event);
    return result(duplicate ? "duplicate" : "accepted", { svixId: verified.id, type: event.type });
  } catch (error) {
    return result("unavailable", { svixId: verified.id, type: event.type, error });
  }
}

/**
 * Publishes an envelope on its subject with its message id and waits for JetStream's acknowledgement,
 * trying again for up to `retryForMs` (then throws). Why the webhook waits instead of answering 503 at
 * once: when a cluster node dies, its clients reconnect to another and the stream elects a new leader
 * within seconds; the provider's retry of a 503 comes seconds to minutes later, while holding the
 * request keeps ingestion answering 200 through the failover. The message id makes every repeat a
 * duplicate of a copy that was stored after all.
 */
export function envelopePublisher(publisher: JetStreamPublisher, retryForMs: number) {
  return async (event: ResendEvent): Promise<{ duplicate: boolean }> => {
    const subject = eventSubject(event.workspaceId, event.type);
    const data = encodeResendEvent(event);
    const msgId = eventMessageId(event.workspaceId, event.svixId);
    const giveUpAt = Date.now() + retryForMs;
    // One send span around all attempts; its context travels in the message headers to every consumer.
    return await withSendSpan("resend.events", subject, msgId, async (headers) => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await publisher.publish(subject, data, msgId, headers);
        } catch (error) {
          const pause = Math.min(500, 50 * 2 ** attempt);
          if (!(error instanceof PublishError) || Date.now() + pause >= giveUpAt) throw error;
          await new Promise((resolve) => setTimeout(resolve, pause));
        }
      }
    });
  };
}
