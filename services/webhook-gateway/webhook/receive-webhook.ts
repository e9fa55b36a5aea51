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
import type { JetStreamPublisher } from "./jetstream-publisher.ts";
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

  const started = performance.now();
  const verified = verifyWebhook(request.headers, request.body, workspace.keys.map((active) => active.key), Math.floor(request.receivedAtMs / 1000));
  deps.timeVerify?.((performance.now() - started) / 1000);
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

/** Publishes an envelope on its subject with its message id and waits for JetStream's acknowledgement (or throws). */
export function envelopePublisher(publisher: JetStreamPublisher) {
  return (event: ResendEvent): Promise<{ duplicate: boolean }> =>
    publisher.publish(eventSubject(event.workspaceId, event.type), encodeResendEvent(event), eventMessageId(event.workspaceId, event.svixId));
}
