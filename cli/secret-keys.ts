/**
 * The command line's part of SECRETS_KEY key management: what `ngsreach
 * health` says about a webhook secret the gateway cannot decrypt, and
 * `ngsreach secrets reencrypt`, which pages through ReencryptSecrets until
 * every workspace was looked at.
 */
import type { Client } from "@connectrpc/connect";
import {
  WebhookState,
  WorkspaceSettingsService,
  type GetWebhookHealthResponse,
} from "../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";

const stateNames: Record<number, string> = {
  [WebhookState.OK]: "ok",
  [WebhookState.NO_SECRET]: "no_secret",
  [WebhookState.SECRET_UNDECRYPTABLE]: "secret_undecryptable",
};

/** The endpoint's state and, when something is wrong, what to do about it. */
export function printWebhookState(health: GetWebhookHealthResponse): void {
  console.log(`  state                 ${stateNames[health.state] ?? "unknown"}`);
  console.log(`  secret undecryptable  ${health.secretUndecryptable}   (503: see the state)`);
  console.log(`  rate limited (429)    ${health.rateLimited}   (failed requests from an address that kept failing)`);
  for (const secret of health.secrets) {
    console.log(`  key of ${secret.fingerprint}     ${secret.keyId || "-"}${secret.undecryptable ? "   CANNOT BE DECRYPTED" : ""}`);
  }
  if (health.state === WebhookState.SECRET_UNDECRYPTABLE) {
    const ids = health.undecryptableKeyIds.map((id) => `"${id}"`).join(", ");
    console.log(
      `\nThe gateway cannot decrypt this workspace's webhook secret: it was sealed with SECRETS_KEY key id ${ids}, which the\n` +
        `gateway's SECRETS_KEY does not hold (or holds with other key material). Webhooks are answered 503 and nothing is\n` +
        `stored; Resend retries them for about 28 hours, then disables the endpoint. To fix it, either\n` +
        `  - add that key back to SECRETS_KEY, after the first key (keyId:base64,...), on every gateway instance, restart them,\n` +
        `    then run "ngsreach secrets reencrypt" so every secret is sealed under the first key; or\n` +
        `  - set a new secret with "ngsreach secret set" and the same one in Resend's webhook settings.`,
    );
  } else if (health.state === WebhookState.NO_SECRET) {
    console.log(`\nNo active webhook secret: webhooks are answered 404. Set one with "ngsreach secret set".`);
  }
}

/**
 * Re-seals every stored secret under the first key of the gateway's SECRETS_KEY, page after page.
 * Safe to stop and run again (from the start, or from the last page token printed): what is already
 * sealed under that key is left alone. True when every
 * secret is now under the first key (nothing undecryptable, nothing left to a concurrent change).
 */
export async function reencryptCommand(
  client: Client<typeof WorkspaceSettingsService>,
  audit: { actor: string; note: string },
  startToken = "",
): Promise<boolean> {
  const totals = { scanned: 0, resealedWorkspaces: 0, resealed: 0, current: 0, undecryptable: 0, contended: 0 };
  const undecryptableIn: string[] = [];
  let keyId = "";
  let pageToken = startToken;
  do {
    const page = await client.reencryptSecrets({ pageToken, ...audit });
    keyId = page.keyId;
    totals.scanned += page.workspacesScanned;
    totals.resealedWorkspaces += page.workspacesResealed;
    totals.resealed += page.secretsResealed;
    totals.current += page.secretsCurrent;
    totals.undecryptable += page.secretsUndecryptable;
    totals.contended += page.workspacesContended;
    undecryptableIn.push(...page.undecryptableWorkspaceIds);
    pageToken = page.nextPageToken;
    if (pageToken) console.log(`  ... ${totals.scanned} workspaces so far (resume with --page-token ${pageToken})`);
  } while (pageToken);
  console.log(`re-encrypted webhook secrets under key id "${keyId}"`);
  console.log(`  workspaces looked at   ${totals.scanned}`);
  console.log(`  workspaces rewritten   ${totals.resealedWorkspaces}`);
  console.log(`  secrets re-sealed      ${totals.resealed}`);
  console.log(`  already under "${keyId}"  ${totals.current}`);
  console.log(`  cannot be decrypted    ${totals.undecryptable}${undecryptableIn.length ? `   (workspaces: ${undecryptableIn.join(", ")})` : ""}`);
  if (totals.contended > 0) console.log(`  changed meanwhile      ${totals.contended} workspace(s): run the command again to finish them`);
  if (totals.undecryptable > 0) {
    console.log(`secrets that cannot be decrypted were left as they are: add their key to SECRETS_KEY, or set new secrets (see "ngsreach health")`);
  }
  return totals.undecryptable === 0 && totals.contended === 0;
}
