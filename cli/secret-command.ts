/**
 * `ngsreach secret set|rotate|remove`: a workspace's webhook credential per
 * provider, through WorkspaceSettingsService. Only fingerprints are printed.
 */
import {
  WebhookSecretRole,
  WebhookSecretSelector,
  WorkspaceSettingsService,
  type WebhookSecretInfo,
} from "../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import type { Provider } from "../services/shared/providers.ts";
import { requireFlag, type CommandLine } from "./command-line.ts";
import { serviceClient } from "./endpoints.ts";
import { apiProvider, parseProvider, providerName } from "./names.ts";
import { time } from "./output.ts";
import { readSecret } from "./secret-input.ts";
import { UsageError } from "./usage-error.ts";

const roleName = (role: WebhookSecretRole) => (role === WebhookSecretRole.CURRENT ? "current" : "previous");

/** One line per active secret: role, fingerprint, expiry, provider. */
export function printSecrets(secrets: readonly Pick<WebhookSecretInfo, "fingerprint" | "role" | "expireTime" | "provider">[]): void {
  if (secrets.length === 0) console.log("no active webhook secret");
  for (const secret of secrets) {
    const expires = secret.expireTime ? `  expires ${time(secret.expireTime)}` : "";
    console.log(`  ${roleName(secret.role).padEnd(8)} fingerprint ${secret.fingerprint}${expires}  ${providerName(secret.provider)}`);
  }
}

export const settingsClient = (line: CommandLine) => serviceClient(WorkspaceSettingsService, "webhook-gateway", line.env);

/** Sets a credential (also `simulate --setup`'s test credential); the provider's active secrets after it. */
export async function setCredential(line: CommandLine, workspaceId: string, provider: Provider, secret: string, note = line.flags.note!) {
  const { secrets } = await settingsClient(line).setWebhookSecret({ workspaceId, secret, actor: line.actor, note, provider: apiProvider(provider) });
  return secrets;
}

export async function secretCommand(line: CommandLine): Promise<void> {
  const action = line.positionals[1];
  const workspaceId = requireFlag(line, "workspace");
  const provider = parseProvider(line.flags.provider);
  const fields = { actor: line.actor, note: line.flags.note!, provider: apiProvider(provider) };
  const secret = (what: string) => readSecret({ flag: line.flags.secret, question: `${what} for workspace ${workspaceId} (${provider}): `, env: line.env });
  const client = settingsClient(line);
  if (action === "set") {
    const secrets = await setCredential(line, workspaceId, provider, await secret("webhook secret"));
    console.log(`webhook secret set for workspace ${workspaceId} (${provider})`);
    printSecrets(secrets);
  } else if (action === "rotate") {
    const ttl = line.flags.ttl === undefined ? undefined : Number(line.flags.ttl);
    if (ttl !== undefined && !Number.isInteger(ttl)) throw new UsageError("--ttl must be a whole number of seconds");
    const newSecret = await secret("new webhook secret");
    const { secrets } = await client.rotateWebhookSecret({ workspaceId, newSecret, oldSecretTtlSeconds: ttl, ...fields });
    console.log(`webhook secret rotated for workspace ${workspaceId} (${provider}); the previous one stays valid until it expires or is removed`);
    printSecrets(secrets);
  } else if (action === "remove") {
    const which = line.flags.all ? WebhookSecretSelector.ALL : WebhookSecretSelector.PREVIOUS;
    const { removedCount, secrets } = await client.removeWebhookSecret({ workspaceId, which, ...fields });
    console.log(`removed ${removedCount} webhook secret(s) of workspace ${workspaceId} (${provider})`);
    printSecrets(secrets);
  } else {
    throw new UsageError(`unknown secret action "${action ?? ""}" (set, rotate or remove)`);
  }
}
