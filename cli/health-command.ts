/**
 * `ngsreach health --workspace W`: GetWebhookHealth as a report — the last
 * accepted event, the last 24 h of requests by outcome, the active secrets
 * and the endpoint's state with what to do about it, and a silence (sends
 * recorded, no verified webhook since) when there is one.
 */
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { requireFlag, type CommandLine } from "./command-line.ts";
import { time } from "./output.ts";
import { printSecrets, settingsClient } from "./secret-command.ts";
import { printWebhookState } from "./secret-keys.ts";

export async function healthCommand(line: CommandLine): Promise<void> {
  const workspaceId = requireFlag(line, "workspace");
  const health = await settingsClient(line).getWebhookHealth({ workspaceId });
  const rejected = health.rejected;
  console.log(`webhook health of workspace ${workspaceId} since ${time(health.windowStartTime)}`);
  console.log(`  last accepted event   ${time(health.lastAcceptedTime)}`);
  console.log(`  accepted              ${health.accepted}`);
  console.log(`  duplicates            ${health.duplicate}`);
  console.log(`  rejected: signature   ${rejected?.badSignature ?? 0n}   (401: the secret in Resend differs from the one set here)`);
  console.log(`  rejected: timestamp   ${rejected?.expiredTimestamp ?? 0n}   (401: clock skew over 5 minutes, or a replay)`);
  console.log(`  rejected: no secret   ${rejected?.unknownWorkspace ?? 0n}   (404)`);
  console.log(`  rejected: bad body    ${rejected?.badBody ?? 0n}   (400)`);
  console.log(`  rejected: too large   ${rejected?.tooLarge ?? 0n}   (413)`);
  console.log(`  unavailable (503)     ${health.unavailable}`);
  printSecrets(health.secrets);
  printWebhookState(health);
  if (health.silentSinceTime) printSilence(health.silentSinceTime, health.apiKeys.length > 0);
}

/** Webhooks are being lost: say since when, what to check, and whether a reconciliation fills the gap. */
function printSilence(since: Timestamp, hasApiKey: boolean): void {
  console.log(`  silent since ${time(since)} (no verified webhook after sends recorded since then)`);
  console.log(
    `\nWebhooks seem lost: check the endpoint's status at the provider (Resend disables an endpoint that kept failing;\n` +
      `re-enable it there) and that the webhook secret set here is the provider's signing secret ("ngsreach secret set").\n` +
      (hasApiKey
        ? `A reconciliation of the sends since then runs with the workspace's Resend API key.`
        : `Set a Resend API key ("ngsreach apikey set") so a reconciliation fills in the sends since then.`),
  );
}
