/**
 * `POST /webhooks/resend?workspaceId=...` over HTTP: method, workspace id and
 * body size are checked before any other work, then receiveWebhook decides;
 * every outcome is counted (per workspace only when the workspace exists,
 * never labelled by an attacker-chosen id), logged without secret or body,
 * and answered with a short JSON body.
 */
import type { Logger } from "../../shared/log.ts";
import type { Counter } from "../../shared/metrics.ts";
import type { HttpRequest, HttpResponse } from "../../shared/rpc/server.ts";
import { isWorkspaceId } from "../../shared/validation.ts";
import type { HealthRecorder } from "../health/health-recorder.ts";
import { healthCounterOf, outcomeBody, outcomeStatus, type Outcome } from "../health/outcomes.ts";
import { BodyTooLargeError, readBody } from "./read-body.ts";
import { receiveWebhook, type ReceiveDeps, type ReceiveResult } from "./receive-webhook.ts";

export const webhookPath = "/webhooks/resend";

export interface WebhookHttpDeps extends ReceiveDeps {
  maxBodyBytes: number;
  health: HealthRecorder;
  requests: Counter;
  log: Logger;
}

/** Handles the webhook path; returns false for any other path. */
export function webhookHttpHandler(deps: WebhookHttpDeps) {
  return (req: HttpRequest, res: HttpResponse): boolean => {
    const url = req.url ?? "";
    const query = url.indexOf("?");
    const path = query === -1 ? url : url.slice(0, query);
    if (path !== webhookPath) return false;
    void handle(deps, req, res, query === -1 ? "" : url.slice(query + 1));
    return true;
  };
}

async function handle(deps: WebhookHttpDeps, req: HttpRequest, res: HttpResponse, query: string): Promise<void> {
  const receivedAtMs = Date.now();
  if (req.method !== "POST") return finish(deps, req, res, { outcome: "method_not_allowed", workspaceExists: false });
  const workspaceId = new URLSearchParams(query).get("workspaceId");
  if (!isWorkspaceId(workspaceId)) return finish(deps, req, res, { outcome: "bad_workspace_id", workspaceExists: false });

  let body: Buffer;
  try {
    body = await readBody(req, deps.maxBodyBytes);
  } catch (error) {
    if (!(error instanceof BodyTooLargeError)) {
      deps.log.warn("webhook body read failed", { workspaceId, error });
      return;
    }
    const exists = await deps.secrets.get(workspaceId).then((keys) => keys.exists, () => false);
    return finish(deps, req, res, { outcome: "too_large", workspaceExists: exists }, workspaceId);
  }

  let result: ReceiveResult;
  try {
    result = await receiveWebhook(deps, { workspaceId, headers: req.headers, body, receivedAtMs });
  } catch (error) {
    result = { outcome: "unavailable", workspaceExists: false, error };
  }
  finish(deps, req, res, result, workspaceId);
}

function finish(deps: WebhookHttpDeps, req: HttpRequest, res: HttpResponse, result: ReceiveResult, workspaceId?: string): void {
  const outcome: Outcome = result.outcome;
  const status = outcomeStatus[outcome];
  deps.requests.inc({ status: String(status), outcome });
  const counter = healthCounterOf(outcome);
  if (workspaceId && result.workspaceExists && counter) deps.health.record(workspaceId, counter, new Date());
  if (status >= 500 || result.error) {
    deps.log.warn("webhook not stored", { workspaceId, svixId: result.svixId, outcome, error: result.error });
  } else if (status >= 400) {
    deps.log.info("webhook rejected", { workspaceId, outcome });
  } else {
    deps.log.debug("webhook stored", { workspaceId, svixId: result.svixId, type: result.type, outcome });
  }
  if (res.headersSent) return;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (outcome === "method_not_allowed") headers.allow = "POST";
  // An unread oversized HTTP/1.1 body would be parsed as the next request: close the connection instead.
  if (outcome === "too_large" && req.httpVersionMajor === 1) headers.connection = "close";
  res.writeHead(status, headers);
  res.end(outcomeBody(outcome));
}
