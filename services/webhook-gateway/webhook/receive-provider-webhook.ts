/**
 * The story of one webhook of a provider other than Resend (SES, SendGrid, Postmark, Mailgun), once its
 * workspace id and body were read: find the workspace's credentials for that provider (cached), let the
 * provider's adapter verify the request — before anything of it is parsed beyond what verification
 * needs — then split the body into events, publish each with its own message id, and answer success
 * only once JetStream acknowledged every one. When any is not acknowledged the whole request is answered
 * 503: the provider's retry stores the missing ones, and the ones stored already are duplicates.
 * SNS control messages are handled here too: a subscription is confirmed by the gateway itself, an
 * unsubscription is counted in webhook health.
 */
import type { ResendEvent } from "../../../gen/ngsreach/events/v1/resend_event_pb.ts";
import type { Provider } from "../../shared/providers.ts";
import type { Outcome } from "../health/outcomes.ts";
import { BadProviderBodyError, ProviderUnavailableError, type Contents, type ProviderAdapter, type RejectReason, type Verdict } from "../providers/provider-adapter.ts";
import { providerEnvelope } from "../providers/provider-envelope.ts";
import { configuredFor, type SecretCache, type WorkspaceKeys } from "../workspace/secret-cache.ts";
import type { ReceiveResult, WebhookRequest } from "./receive-webhook.ts";
import type { SourceLimiter } from "./source-limiter.ts";
import type { SubscriptionConfirmer } from "./sns-subscription.ts";
import { withSpan } from "../../shared/tracing/spans.ts";

export interface ProviderReceiveDeps {
  secrets: SecretCache;
  limiter?: SourceLimiter;
  publish(event: ResendEvent): Promise<{ duplicate: boolean }>;
  confirmSubscription: SubscriptionConfirmer;
  /** Observes verification time in seconds (metrics). */
  timeVerify?(seconds: number): void;
  /** A verified SNS UnsubscribeConfirmation (logged by the caller, topic ARN only). */
  onUnsubscribed?(workspaceId: string, topicArn: string): void;
}

/** A signature the cached credentials reject re-reads them when they are older than this (as for Resend). */
const staleCredentialsMs = 250;

/** Answers another credential (a newer one, or one the gateway cannot decrypt) might have turned into a pass. */
const credentialMismatch = new Set<RejectReason>(["bad_signature", "bad_credentials", "topic_not_allowed"]);

/** Publishes at most this many events of one request at once (a SendGrid batch may hold thousands). */
const publishConcurrency = 64;

export async function receiveProviderWebhook(
  deps: ProviderReceiveDeps,
  adapter: ProviderAdapter<unknown>,
  request: WebhookRequest,
): Promise<ReceiveResult> {
  const provider = adapter.provider;
  let workspace: WorkspaceKeys;
  try {
    workspace = await deps.secrets.get(request.workspaceId);
  } catch (error) {
    return { outcome: "unavailable", workspaceExists: false, error };
  }
  const result = (outcome: Outcome, extra: Partial<ReceiveResult> = {}): ReceiveResult => ({ outcome, workspaceExists: workspace.exists, ...extra });
  if (!configuredFor(workspace, provider)) return result("unknown_workspace");

  const verify = async (keys: WorkspaceKeys): Promise<Verdict> => {
    const started = performance.now();
    try {
      // SES's span includes fetching an SNS signing certificate the first time it is named.
      return await withSpan(`verify ${provider}`, { attributes: { "ngsreach.provider": provider } }, async (span) => {
        const verdict = await adapter.verify({ headers: request.headers, body: request.body, nowMs: request.receivedAtMs }, credentialsOf(keys, provider));
        span?.setAttribute("ngsreach.verify.outcome", verdict.ok ? "ok" : verdict.reason);
        return verdict;
      });
    } finally {
      deps.timeVerify?.((performance.now() - started) / 1000);
    }
  };
  let verdict: Verdict;
  try {
    verdict = await verify(workspace);
    if (!verdict.ok && credentialMismatch.has(verdict.reason) && !deps.limiter?.isLimited(request.workspaceId, request.source)) {
      // Maybe signed with a credential another instance just set: look once more, at most every so often.
      const fresher = await deps.secrets.refreshIfOlder(request.workspaceId, staleCredentialsMs).catch(() => undefined);
      if (fresher && credentialsOf(fresher, provider).length > 0) {
        workspace = fresher;
        verdict = await verify(fresher);
      }
    }
  } catch (error) {
    if (error instanceof ProviderUnavailableError) return result("unavailable", { error });
    throw error;
  }
  if (!verdict.ok) {
    const unreadable = workspace.undecryptable.filter((secret) => secret.provider === provider);
    // It may be signed with the credential the gateway cannot read: not the sender's fault, so no 401.
    if (unreadable.length > 0 && credentialMismatch.has(verdict.reason)) return result("secret_undecryptable", { undecryptableKeyIds: unreadable.map((secret) => secret.keyId) });
    return result(verdict.reason === "missing_signature" ? "missing_headers" : verdict.reason, {
      rateLimited: deps.limiter?.fail(request.workspaceId, request.source) ?? false,
    });
  }
  deps.limiter?.succeed(request.workspaceId, request.source);

  let contents: Contents;
  try {
    contents = adapter.contents(request.body);
  } catch (error) {
    if (error instanceof BadProviderBodyError) return result("bad_body", { error: undefined, detail: error.message });
    throw error;
  }
  switch (contents.kind) {
    case "subscription_confirmation":
      try {
        await deps.confirmSubscription(contents.subscribeUrl);
      } catch (error) {
        return result("unavailable", { error });
      }
      return result("subscription_confirmed");
    case "unsubscribe_confirmation":
      deps.onUnsubscribed?.(request.workspaceId, contents.topicArn);
      return result("unsubscribe_confirmed");
    case "events":
      return await publishAll(deps, request, contents.events.map((event) => providerEnvelope({ workspaceId: request.workspaceId, event, receivedAtMs: request.receivedAtMs, body: request.body })), result);
  }
}

function credentialsOf(workspace: WorkspaceKeys, provider: Provider): unknown[] {
  return workspace.credentials.filter((credential) => credential.provider === provider).map((credential) => credential.credential);
}

async function publishAll(
  deps: ProviderReceiveDeps,
  request: WebhookRequest,
  envelopes: ResendEvent[],
  result: (outcome: Outcome, extra?: Partial<ReceiveResult>) => ReceiveResult,
): Promise<ReceiveResult> {
  const first = envelopes[0];
  const identity = { svixId: first?.svixId, type: envelopes.length === 1 ? first?.type : `${envelopes.length} events` };
  let stored = 0;
  let failure: unknown;
  let next = 0;
  const worker = async () => {
    while (next < envelopes.length && failure === undefined) {
      const envelope = envelopes[next++]!;
      try {
        const { duplicate } = await deps.publish(envelope);
        if (!duplicate) stored++;
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(publishConcurrency, envelopes.length) }, worker));
  if (failure !== undefined) return result("unavailable", { ...identity, error: failure });
  // An empty SendGrid array verified and holds nothing: accepted, nothing to store.
  return result(stored === 0 && envelopes.length > 0 ? "duplicate" : "accepted", { ...identity, events: envelopes.length });
}
