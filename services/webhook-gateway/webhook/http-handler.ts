/**
 * `POST /webhooks/{provider}?workspaceId=...` over HTTP (resend, ses, sendgrid,
 * postmark, mailgun): method, workspace id and body size are checked before
 * any other work, then receiveWebhook (Resend) or the provider's adapter
 * (receiveProviderWebhook) decides;
 * every outcome is counted (per workspace only when the workspace exists,
 * never labelled by an attacker-chosen id) and answered with a short JSON
 * body. Rejections are not logged (a flood would write a line per request:
 * metrics and webhook health count them); failures to store are logged at
 * most once per outcome per interval, an undecryptable secret once per key id.
 */
import type { Logger } from "../../shared/log.ts";
import type { Counter, Histogram } from "../../shared/metrics.ts";
import type { HttpRequest, HttpResponse } from "../../shared/rpc/server.ts";
import { isWorkspaceId } from "../../shared/validation.ts";
import type { HealthRecorder } from "../health/health-recorder.ts";
import { healthCounterOf, outcomeBody, outcomeStatus, rateLimitedStatus, type Outcome } from "../health/outcomes.ts";
import { throttledLog } from "./log-throttle.ts";
import { BodyTooLargeError, readBody } from "./read-body.ts";
import { receiveWebhook, type ReceiveDeps, type ReceiveResult } from "./receive-webhook.ts";
import { receiveProviderWebhook, type ProviderReceiveDeps } from "./receive-provider-webhook.ts";
import { recordWebhookAnswer, traceWebhookRequest } from "./request-span.ts";
import { isProvider, type Provider } from "../../shared/providers.ts";
import type { ProviderAdapter } from "../providers/provider-adapter.ts";

export const webhookPath = "/webhooks/resend";
const webhookPathPrefix = "/webhooks/";

/**
 * Smallest body limit per provider, whatever WEBHOOK_MAX_BODY_BYTES says: SendGrid posts batches of up
 * to a few thousand events (about 1 MiB and more), which a lower limit would refuse for good.
 */
const minimumBodyBytes: Partial<Record<Provider, number>> = { sendgrid: 4 * 1024 * 1024 };

export interface WebhookHttpDeps extends ReceiveDeps, Partial<Omit<ProviderReceiveDeps, keyof ReceiveDeps>> {
  /** The adapters of the providers other than Resend whose endpoints are served (absent ones are 404). */
  adapters?: Partial<Record<Exclude<Provider, "resend">, ProviderAdapter<unknown>>>;
  maxBodyBytes: number;
  health: HealthRecorder;
  requests: Counter<"provider" | "status" | "outcome">;
  /** Verification time by provider (each provider's endpoint gets its own timeVerify observing it). */
  verifySeconds?: Histogram<"provider">;
  log: Logger;
  /** Called for each request answered secret_undecryptable (metrics, and a log line once per key id). */
  reportUndecryptable?(workspaceId: string, keyIds: string[]): void;
}

/** At most one "not stored" line per outcome in this interval (with the count of the ones left out). */
const failureLogIntervalMs = 10_000;

interface Handling extends WebhookHttpDeps {
  warn: ReturnType<typeof throttledLog>;
  /** What the other providers' endpoints use (built once; absent when no adapter is served). */
  providerDeps?: ProviderReceiveDeps;
}

/** Handles the webhook path; returns false for any other path. */
export function webhookHttpHandler(deps: WebhookHttpDeps) {
  const handling: Handling = { ...deps, warn: throttledLog(deps.log, failureLogIntervalMs) };
  if (deps.adapters && Object.keys(deps.adapters).length > 0) {
    if (!deps.confirmSubscription) throw new Error("serving other providers' webhooks needs an SNS subscription confirmer");
    handling.providerDeps = { ...deps, confirmSubscription: deps.confirmSubscription };
  }
  // Built once per provider: the verification histogram's series is resolved here, not per request.
  const handlings = new Map<Provider, Handling>();
  const handlingOf = (provider: Provider): Handling => {
    let found = handlings.get(provider);
    if (!found) {
      const timer = deps.verifySeconds?.labels(provider);
      const timeVerify = timer ? (seconds: number) => timer.observe(seconds) : deps.timeVerify;
      found = { ...handling, timeVerify, providerDeps: handling.providerDeps && { ...handling.providerDeps, timeVerify } };
      handlings.set(provider, found);
    }
    return found;
  };
  return (req: HttpRequest, res: HttpResponse): boolean => {
    const url = req.url ?? "";
    const query = url.indexOf("?");
    const path = query === -1 ? url : url.slice(0, query);
    if (!path.startsWith(webhookPathPrefix)) return false;
    const provider = path.slice(webhookPathPrefix.length);
    if (!isProvider(provider) || (provider !== "resend" && !deps.adapters?.[provider])) return false;
    void traceWebhookRequest(req, provider, () => handle(handlingOf(provider), req, res, query === -1 ? "" : url.slice(query + 1), provider));
    return true;
  };
}

async function handle(deps: Handling, req: HttpRequest, res: HttpResponse, query: string, provider: Provider): Promise<void> {
  const receivedAtMs = Date.now();
  if (req.method !== "POST") return finish(deps, req, res, { outcome: "method_not_allowed", workspaceExists: false }, undefined, provider);
  const workspaceId = new URLSearchParams(query).get("workspaceId");
  if (!isWorkspaceId(workspaceId)) return finish(deps, req, res, { outcome: "bad_workspace_id", workspaceExists: false }, undefined, provider);

  let body: Buffer;
  try {
    body = await readBody(req, Math.max(deps.maxBodyBytes, minimumBodyBytes[provider] ?? 0));
  } catch (error) {
    if (!(error instanceof BodyTooLargeError)) {
      deps.warn("read_failed", "webhook body read failed", { workspaceId, error });
      return;
    }
    const exists = await deps.secrets.get(workspaceId).then((keys) => keys.exists, () => false);
    return finish(deps, req, res, { outcome: "too_large", workspaceExists: exists }, workspaceId, provider);
  }

  let result: ReceiveResult;
  try {
    const request = { workspaceId, headers: req.headers, body, receivedAtMs, source: req.socket?.remoteAddress };
    const adapter = provider === "resend" ? undefined : deps.adapters?.[provider];
    result = adapter && deps.providerDeps ? await receiveProviderWebhook(deps.providerDeps, adapter, request) : await receiveWebhook(deps, request);
  } catch (error) {
    result = { outcome: "unavailable", workspaceExists: false, error };
  }
  finish(deps, req, res, result, workspaceId, provider);
}

function finish(deps: Handling, req: HttpRequest, res: HttpResponse, result: ReceiveResult, workspaceId?: string, provider: Provider = "resend"): void {
  const outcome: Outcome = result.outcome;
  const status = result.rateLimited ? rateLimitedStatus : outcomeStatus[outcome];
  deps.requests.inc({ status: String(status), outcome, provider });
  recordWebhookAnswer(status, outcome, workspaceId, result.events);
  const counter = healthCounterOf(outcome);
  if (workspaceId && result.workspaceExists && counter) {
    const at = new Date();
    deps.health.record(workspaceId, counter, at);
    if (result.rateLimited) deps.health.record(workspaceId, "rate_limited", at);
  }
  if (outcome === "secret_undecryptable") {
    if (workspaceId) deps.reportUndecryptable?.(workspaceId, result.undecryptableKeyIds ?? []);
  } else if (status >= 500 || result.error) {
    deps.warn(outcome, "webhook not stored", { workspaceId, provider, svixId: result.svixId, outcome, error: result.error });
  } else if (outcome === "bad_body" && result.detail) {
    // Verified, so from the provider itself: worth a line (throttled), naming the field, never a value.
    deps.warn("bad_body", "verified webhook body not readable", { workspaceId, provider, detail: result.detail });
  } else if (status < 400) {
    deps.log.debug("webhook stored", { workspaceId, svixId: result.svixId, type: result.type, events: result.events, outcome });
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
