/**
 * The story of one webhook, once its workspace id and body were read:
 * find the workspace's keys (cached), verify the signature over the raw
 * bytes, only then parse, publish to JetStream with a message id from
 * (workspace, svix-id), and answer success only once JetStream acknowledged.
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
import type { SecretCache } from "../workspace/secret-cache.ts";
import { PublishError, type JetStreamPublisher } from "./jetstream-publisher.ts";
import { verifyWebhook } from "./signature.ts";

export interface ReceiveDeps {
  secrets: SecretCache;
  publish(event: ResendEvent): Promise<{ duplicate: boolean }>;
  /** Observes verification time in seconds (metrics). */
  timeVerify?(seconds: number): void;
}

export interface WebhookRequest {
  workspaceId: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  receivedAtMs: number;
}

export interface ReceiveResult {
  outcome: Outcome;
  /** False when the workspace was never configured (its counts go to metrics only). */
  workspaceExists: boolean;
  svixId?: string;
  type?: string;
  error?: unknown;
}

/** A signature the cached keys reject re-reads them when they are older than this. */
const staleKeysMs = 250;

export async function receiveWebhook(deps: ReceiveDeps, request: WebhookRequest): Promise<ReceiveResult> {
  let workspace;
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
  if (workspace.keys.length === 0) return result("unknown_workspace");

  const verify = (keys: typeof workspace.keys) => {
    const started = performance.now();
    const outcome = verifyWebhook(request.headers, request.body, keys.map((active) => active.key), Math.floor(request.receivedAtMs / 1000));
    deps.timeVerify?.((performance.now() - started) / 1000);
    return outcome;
  };
  let verified = verify(workspace.keys);
  if (!verified.ok && verified.reason === "bad_signature") {
    // Maybe signed with a secret another instance just rotated in: look once more, at most every so often.
    const fresher = await deps.secrets.refreshIfOlder(request.workspaceId, staleKeysMs).catch(() => undefined);
    if (fresher && fresher.keys.length > 0) verified = verify(fresher.keys);
  }
  if (!verified.ok) return result(verified.reason);

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
    for (let attempt = 0; ; attempt++) {
      try {
        return await publisher.publish(subject, data, msgId);
      } catch (error) {
        const pause = Math.min(500, 50 * 2 ** attempt);
        if (!(error instanceof PublishError) || Date.now() + pause >= giveUpAt) throw error;
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    }
  };
}
