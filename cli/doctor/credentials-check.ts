/**
 * Can the gateway verify this workspace's webhooks? The credentials held per
 * provider and the endpoint's state, from GetWebhookHealth.
 */
import { WebhookSecretRole, WebhookState, type GetWebhookHealthResponse } from "../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { envelopeProvider, providers, type Provider } from "../../services/shared/providers.ts";
import { time } from "../output.ts";
import { check, type Check } from "./check.ts";
import { checkWorkspaceInUrl, credentialFixes, secretsKeyFix } from "./webhook-fixes.ts";

/** The check when the workspace has no settings at all (GetWebhookHealth: NotFound). */
export function noSettingsCheck(workspaceId: string): Check {
  return check("credentials", "fail", `workspace ${workspaceId} has no webhook settings: every webhook for it is answered 404`, {
    fixes: [...credentialFixes(workspaceId), checkWorkspaceInUrl(workspaceId)],
  });
}

export function credentialsCheck(workspaceId: string, health: GetWebhookHealthResponse): Check {
  const byProvider = new Map<Provider, string[]>();
  for (const secret of health.secrets) {
    const provider = envelopeProvider(secret.provider) ?? "resend";
    const role = secret.role === WebhookSecretRole.PREVIOUS ? `previous ${secret.fingerprint} until ${time(secret.expireTime)}` : `current ${secret.fingerprint}`;
    byProvider.set(provider, [...(byProvider.get(provider) ?? []), `${role}${secret.undecryptable ? " (CANNOT BE DECRYPTED)" : ""}`]);
  }
  const details = [...byProvider].map(([provider, secrets]) => `${provider}: ${secrets.join(", ")}`);
  const missing = providers.filter((provider) => !byProvider.has(provider));
  if (missing.length && byProvider.size) details.push(`not configured (their webhooks are answered 404): ${missing.join(", ")}`);

  if (health.state === WebhookState.SECRET_UNDECRYPTABLE) {
    return check("credentials", "fail", "a credential cannot be decrypted: the webhooks it would verify are answered 503 and nothing is stored", {
      details,
      fixes: [secretsKeyFix(health.undecryptableKeyIds)],
    });
  }
  if (health.state === WebhookState.NO_SECRET || byProvider.size === 0) {
    return check("credentials", "fail", "no active credential: every webhook for the workspace is answered 404", {
      fixes: credentialFixes(workspaceId),
    });
  }
  return check("credentials", "ok", `configured for ${[...byProvider.keys()].join(", ")}`, { details });
}
