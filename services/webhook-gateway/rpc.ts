/**
 * WorkspaceSettingsService: validates requests, calls the use cases, maps
 * results to the API. Secrets go in; only fingerprints come out.
 */
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Provider as ApiProvider } from "../../gen/ngsreach/events/v1/provider_pb.ts";
import {
  WebhookSecretRole,
  WebhookSecretSelector,
  WebhookState,
  WorkspaceSettingsService,
} from "../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { toAuditMessage } from "../shared/audit.ts";
import { InvalidArgumentError } from "../shared/errors.ts";
import { pageSize } from "../shared/paging.ts";
import { callerOf } from "../shared/rpc/auth.ts";
import { requireWorkspaceId } from "../shared/validation.ts";
import { providerFromApi, providerToApi, type Provider } from "../shared/providers.ts";
import { getWebhookHealth, type HealthDeps } from "./health/webhook-health.ts";
import { removeProviderApiKey, setProviderApiKey, type ApiKeyDeps, type ApiKeyInfo } from "./workspace/api-keys.ts";
import { listAuditEntries, type AuditLogDeps } from "./workspace/audit-log.ts";
import { reencryptSecrets, type ReencryptDeps } from "./workspace/reencrypt.ts";
import {
  removeWebhookSecret,
  rotateWebhookSecret,
  setWebhookSecret,
  type SecretDeps,
  type SecretInfo,
} from "./workspace/secrets.ts";

/** Unset is Resend (callers from before other providers); a number outside the enum is refused. */
const provider = (req: { provider: ApiProvider }): Provider => providerFromApi(req.provider);

const toApi = (secret: SecretInfo) => ({
  provider: providerToApi(secret.provider),
  fingerprint: secret.fingerprint,
  role: secret.role === "current" ? WebhookSecretRole.CURRENT : WebhookSecretRole.PREVIOUS,
  createTime: timestampFromDate(secret.createdAt),
  expireTime: secret.expiresAt ? timestampFromDate(secret.expiresAt) : undefined,
});

const apiKeyToApi = (key: ApiKeyInfo) => ({
  provider: providerToApi(key.provider),
  fingerprint: key.fingerprint,
  createTime: timestampFromDate(key.createdAt),
});

const audit = (req: { actor: string; note: string }, context: HandlerContext) => {
  if (req.actor.length > 256) throw new InvalidArgumentError("actor", "at most 256 characters");
  if (req.note.length > 1024) throw new InvalidArgumentError("note", "at most 1024 characters");
  return { caller: callerOf(context), actor: req.actor, note: req.note };
};

const stateToApi = {
  ok: WebhookState.OK,
  no_secret: WebhookState.NO_SECRET,
  secret_undecryptable: WebhookState.SECRET_UNDECRYPTABLE,
} as const;

export function workspaceSettingsRoutes(router: ConnectRouter, deps: SecretDeps & HealthDeps & AuditLogDeps & ReencryptDeps & ApiKeyDeps): void {
  router.service(WorkspaceSettingsService, {
    async setWebhookSecret(req, context) {
      const secrets = await setWebhookSecret(deps, req.workspaceId, req.secret, audit(req, context), provider(req));
      return { secrets: secrets.map(toApi) };
    },
    async rotateWebhookSecret(req, context) {
      const secrets = await rotateWebhookSecret(deps, req.workspaceId, req.newSecret, req.oldSecretTtlSeconds, audit(req, context), provider(req));
      return { secrets: secrets.map(toApi) };
    },
    async removeWebhookSecret(req, context) {
      const which = req.which === WebhookSecretSelector.ALL ? "all" : "previous";
      const { removed, secrets } = await removeWebhookSecret(deps, req.workspaceId, which, audit(req, context), provider(req));
      return { removedCount: removed, secrets: secrets.map(toApi) };
    },
    async listAuditEntries(req) {
      const page = await listAuditEntries(deps, requireWorkspaceId(req.workspaceId), pageSize(req.pageSize), req.pageToken);
      return { entries: page.items.map(toAuditMessage), nextPageToken: page.nextPageToken };
    },
    async getWebhookHealth(req) {
      const health = await getWebhookHealth(deps, req.workspaceId);
      // The count and the expiry describe the Resend endpoint's secrets, as they did before other providers.
      const resend = health.secrets.filter((secret) => secret.provider === "resend");
      const previous = resend.find((secret) => secret.role === "previous");
      return {
        lastAcceptedTime: health.lastAcceptedAt ? timestampFromDate(health.lastAcceptedAt) : undefined,
        windowStartTime: timestampFromDate(health.windowStart),
        accepted: BigInt(health.counts.accepted),
        duplicate: BigInt(health.counts.duplicate),
        rejected: {
          badSignature: BigInt(health.counts.bad_signature),
          expiredTimestamp: BigInt(health.counts.expired_timestamp),
          unknownWorkspace: BigInt(health.counts.unknown_workspace),
          badBody: BigInt(health.counts.bad_body),
          tooLarge: BigInt(health.counts.too_large),
        },
        unavailable: BigInt(health.counts.unavailable),
        activeSecretCount: resend.length,
        previousSecretExpireTime: previous?.expiresAt ? timestampFromDate(previous.expiresAt) : undefined,
        secrets: health.secrets.map((secret) => ({ ...toApi(secret), keyId: secret.keyId, undecryptable: secret.undecryptable })),
        state: stateToApi[health.state],
        undecryptableKeyIds: health.undecryptableKeyIds,
        secretUndecryptable: BigInt(health.counts.secret_undecryptable),
        rateLimited: BigInt(health.counts.rate_limited),
        snsSubscriptionsConfirmed: BigInt(health.counts.subscription_confirmed),
        snsUnsubscribed: BigInt(health.counts.unsubscribe_confirmed),
        apiKeys: health.apiKeys.map((key) => ({ ...apiKeyToApi(key), keyId: key.keyId, undecryptable: key.undecryptable })),
        silentSinceTime: health.silentSince ? timestampFromDate(health.silentSince) : undefined,
      };
    },
    async setProviderApiKey(req, context) {
      const key = await setProviderApiKey(deps, req.workspaceId, provider(req), req.apiKey, audit(req, context));
      return { apiKey: apiKeyToApi(key) };
    },
    async removeProviderApiKey(req, context) {
      return { removed: await removeProviderApiKey(deps, req.workspaceId, provider(req), audit(req, context)) };
    },
    async reencryptSecrets(req, context) {
      return await reencryptSecrets(deps, { pageSize: req.pageSize, pageToken: req.pageToken }, audit(req, context));
    },
  });
}
