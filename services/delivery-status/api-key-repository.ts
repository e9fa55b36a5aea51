/**
 * The provider API key reconciliation calls the provider with (issue 16), read from where the gateway
 * stores it (`gateway_workspaces`, field `apiKeys`, sealed with purpose "provider-api-key") and opened
 * with this service's SECRETS_KEY (the same value the gateway has).
 *
 * Why a read of the gateway's collection and not an internal RPC: the settings API promises that keys
 * are never returned by any RPC, and an RPC that does return them (even "internal") is one token leak
 * away from handing every workspace's key out over the network. Reading the sealed value keeps the
 * plaintext inside the two processes holding SECRETS_KEY; the price is one documented exception to
 * "nobody reads another's collections": read-only, one field, one document by `_id`, and this file is
 * the only place that knows the gateway's document shape.
 */
import type { Collection, Db } from "mongodb";
import { openSecret, type SecretKeys } from "../shared/secret-box.ts";
import type { Provider } from "../shared/providers.ts";

interface GatewayWorkspaceDoc {
  _id: string;
  apiKeys?: { provider: Provider; sealed: string; fingerprint: string }[];
}

/** An opened key: the plaintext goes only to the provider's API client, never to a log or a response. */
export interface ProviderApiKey {
  apiKey: string;
  /** Safe to show and log. */
  fingerprint: string;
}

export class ApiKeyRepository {
  private readonly workspaces: Collection<GatewayWorkspaceDoc>;
  private readonly keys: SecretKeys;

  constructor(db: Db, keys: SecretKeys) {
    this.workspaces = db.collection<GatewayWorkspaceDoc>("gateway_workspaces");
    this.keys = keys;
  }

  /**
   * The workspace's key for the provider, or undefined when none is set. Throws SecretUndecryptableError
   * (key id only, never material) when SECRETS_KEY cannot open it.
   */
  async find(workspaceId: string, provider: Provider): Promise<ProviderApiKey | undefined> {
    const doc = await this.workspaces.findOne({ _id: workspaceId }, { projection: { apiKeys: 1 } });
    const stored = doc?.apiKeys?.find((key) => key.provider === provider);
    if (!stored) return undefined;
    return { apiKey: openSecret(this.keys, workspaceId, stored.sealed, "provider-api-key"), fingerprint: stored.fingerprint };
  }

  /** The workspaces holding a key for the provider (the automatic sweep's list). */
  async workspacesWithKey(provider: Provider): Promise<string[]> {
    const docs = await this.workspaces.find({ "apiKeys.provider": provider }, { projection: { _id: 1 } }).toArray();
    return docs.map((doc) => doc._id);
  }
}
