/**
 * `POST /webhooks/resend?workspaceId=...` over HTTP: method, workspace id and
 * body size are checked before any other work, then receiveWebhook decides;
 * every outcome is counted (per workspace only when the workspace exists,
 * never labelled by an attacker-chosen id) and answered with a short JSON
 * body. Rejections are not logged (a flood would write a line per request:
 * metrics and webhook health count them); failures to store are logged at
 * most once per outcome per interval, an undecryptable secret once per key id.
 */
import type { Logger } from "../../shared/log.ts";
import type { Counter } from "../../shared/metrics.ts";
import type { HttpRequest, HttpResponse } from "../../shared/rpc/server.ts";
import { isWorkspaceId } from "../../shared/validation.ts";
import type { HealthRecorder } from "../health/health-recorder.ts";
import { healthCounterOf, outcomeBody, outcomeStatus, rateLimitedStatus, type Outcome } from "../health/outcomes.ts";
import { throttledLog } from "./log-throttle.ts";
import { BodyTooLargeError, readBody } from "./read-body.ts";
import { receiveWebhook, type ReceiveDeps, type ReceiveResult } from "./receive-webhook.ts";

export const webhookPath = "/webhooks/resend";

export interface WebhookHttpDeps extends ReceiveDeps {
  maxBodyBytes: number;
  health: HealthRecorder;
  requests: Counter;
  log: Logger;
  /** Called for each request answered secret_undecryptable (metrics, and a log line once per key id). */
  reportUndecryptable?(workspaceId: string, keyIds: string[]): void;
}

/** At most one "not stored" line per outcome in this interval (with the count of the ones left out). */
const failureLogIntervalMs = 10_000;

interface Handling extends WebhookHttpDeps {
  warn: ReturnType<typeof throttledLog>;
}

/** Handles the webhook path; returns false for any other path. */
export function webhookHttpHandler(deps: WebhookHttpDeps) {
  const handling: Handling = { ...deps, warn: throttledLog(deps.log, failureLogIntervalMs) };
  return (req: HttpRequest, res: HttpResponse): boolean => {
    const url = req.url ?? "";
    const query = url.indexOf("?");
    const path = query === -1 ? url : url.slice(0, query);
    if (path !== webhookPath) return false;
    void handle(handling, req, res, query === -1 ? "" : url.slice(query + 1));
    return true;
  };
}

async function handle(deps: Handling, req: HttpRequest, res: HttpResponse, query: string): Promise<void> {
  const receivedAtMs = Date.now();
  if (req.method !== "POST") return finish(deps, req, res, { outcome: "method_not_allowed", workspaceExists: false });
  const workspaceId = new URLSearchParams(query).get("workspaceId");
  if (!isWorkspaceId(workspaceId)) return finish(deps, req, res, { outcome: "bad_workspace_id", workspaceExists: false });

  let body: Buffer;
  try {
    body = await readBody(req, deps.maxBodyBytes);
  } catch (error) {
    if (!(error instanceof BodyTooLargeError)) {
      deps.warn("read_failed", "webhook body read failed", { workspaceId, error });
      return;
    }
    const exists = await deps.secrets.get(workspaceId).then((keys) => keys.exists, () => false);
    return finish(deps, req, res, { outcome: "too_large", workspaceExists: exists }, workspaceId);
  }

  let result: ReceiveResult;
  try {
    result = await receiveWebhook(deps, { workspaceId, headers: req.headers, body, receivedAtMs, source: req.socket?.remoteAddress });
  } catch (error) {
    result = { outcome: "unavailable", workspaceExists: false, error };
  }
  finish(deps, req, res, result, workspaceId);
}

function finish(deps: Handling, req: HttpRequest, res: HttpResponse, result: ReceiveResult, workspaceId?: string): void {
  const outcome: Outcome = result.outcome;
  const status = result.rateLimited ? rateLimitedStatus : outcomeStatus[outcome];
  deps.requests.inc({ status: String(status), outcome });
  const counter = healthCounterOf(outcome);
  if (workspaceId && result.workspaceExists && counter) {
    const at = new Date();
    deps.health.record(workspaceId, counter, at);
    if (result.rateLimited) deps.health.record(workspaceId, "rate_limited", at);
  }
  if (outcome === "secret_undecryptable") {
    if (workspaceId) deps.reportUndecryptable?.(workspaceId, result.undecryptableKeyIds ?? []);
  } else if (status >= 500 || result.error) {
    deps.warn(outcome, "webhook not stored", { workspaceId, svixId: result.svixId, outcome, error: result.error });
  } else if (status < 400) {
    deps.log.debug("webhook stored", { workspaceId, svixId: result.svixId, type: result.type, outcome });
  }
  if (res.headersSent) return;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (outcome === "method_not_allowed") headers.allow = "POST";
  // An unread oversized HTTP/1.1 body would be parsed as the next request: close the connection instead.
  if (outcome === "too_large" && req.httpVersionMajor === 1) headers.connection = "close";
  if (result.rateLimited) headers["retry-after"] = "30";
  const body = outcomeBody(outcome, result.rateLimited);
  headers["content-length"] = String(Buffer.byteLength(body)); // else Node answers chunked, for a few dozen bytes
  res.writeHead(status, headers);
  res.end(body);
}
