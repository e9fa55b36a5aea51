/**
 * WorkspaceSettingsService: validates requests, calls the use cases, maps
 * results to the API. Secrets go in; only fingerprints come out.
 */
import type { ConnectRouter } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  WebhookSecretRole,
  WebhookSecretSelector,
  WorkspaceSettingsService,
} from "../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { InvalidArgumentError } from "../shared/errors.ts";
import { getWebhookHealth, type HealthDeps } from "./health/webhook-health.ts";
import {
  removeWebhookSecret,
  rotateWebhookSecret,
  setWebhookSecret,
  type SecretDeps,
  type SecretInfo,
} from "./workspace/secrets.ts";

const toApi = (secret: SecretInfo) => ({
  fingerprint: secret.fingerprint,
  role: secret.role === "current" ? WebhookSecretRole.CURRENT : WebhookSecretRole.PREVIOUS,
  createTime: timestampFromDate(secret.createdAt),
  expireTime: secret.expiresAt ? timestampFromDate(secret.expiresAt) : undefined,
});

const audit = (actor: string, note: string) => {
  if (actor.length > 256) throw new InvalidArgumentError("actor", "at most 256 characters");
  if (note.length > 1024) throw new InvalidArgumentError("note", "at most 1024 characters");
  return { actor, note };
};

export function workspaceSettingsRoutes(router: ConnectRouter, deps: SecretDeps & HealthDeps): void {
  router.service(WorkspaceSettingsService, {
    async setWebhookSecret(req) {
      const secrets = await setWebhookSecret(deps, req.workspaceId, req.secret, audit(req.actor, req.note));
      return { secrets: secrets.map(toApi) };
    },
    async rotateWebhookSecret(req) {
      const secrets = await rotateWebhookSecret(
        deps,
        req.workspaceId,
        req.newSecret,
        req.oldSecretTtlSeconds,
        audit(req.actor, req.note),
      );
      return { secrets: secrets.map(toApi) };
    },
    async removeWebhookSecret(req) {
      const which = req.which === WebhookSecretSelector.ALL ? "all" : "previous";
      const { removed, secrets } = await removeWebhookSecret(deps, req.workspaceId, which, audit(req.actor, req.note));
      return { removedCount: removed, secrets: secrets.map(toApi) };
    },
    async getWebhookHealth(req) {
      const health = await getWebhookHealth(deps, req.workspaceId);
      const previous = health.secrets.find((secret) => secret.role === "previous");
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
        activeSecretCount: health.secrets.length,
        previousSecretExpireTime: previous?.expiresAt ? timestampFromDate(previous.expiresAt) : undefined,
        secrets: health.secrets.map(toApi),
      };
    },
  });
}
