/**
 * `ngsreach simulate`: one signed sample event of every email type, all for
 * one new email, POSTed to the gateway's webhook endpoint like a provider's
 * "send test event" — Resend's here, the others' in simulate-providers.ts.
 */
import type { Provider } from "../services/shared/providers.ts";
import { requireFlag, type CommandLine } from "./command-line.ts";
import { serviceUrl } from "./endpoints.ts";
import { localSnsCertificatePrefix } from "./local-sns.ts";
import { parseProvider } from "./names.ts";
import { emailEventTypes, sampleEmailEvent } from "./resend-samples.ts";
import { printSecrets, setCredential } from "./secret-command.ts";
import { readSecret } from "./secret-input.ts";
import { newMessageId, newWebhookSecret, signedHeaders } from "./sign.ts";
import { simulateProvider } from "./simulate-providers.ts";
import { UsageError } from "./usage-error.ts";

/** Sets the credential simulate --setup signs with, printing fingerprints as `secret set` does. */
async function setTestCredential(line: CommandLine, workspaceId: string, provider: Provider, credential: string) {
  const secrets = await setCredential(line, workspaceId, provider, credential, line.flags.note || "ngsreach simulate --setup");
  console.log(`test credential set for workspace ${workspaceId} (${provider})`);
  printSecrets(secrets);
}

export async function simulateCommand(line: CommandLine): Promise<void> {
  const workspaceId = requireFlag(line, "workspace");
  const provider = parseProvider(line.flags.provider); // refuses an unknown name before anything is sent
  const gatewayUrl = serviceUrl("webhook-gateway", line.env);
  // "-": from standard input, as `secret set` takes it.
  const secretGiven = line.flags.secret === "-" ? await readSecret({ flag: "-", question: "", env: line.env }) : line.flags.secret;
  if (provider !== "resend") {
    const failures = await simulateProvider({
      provider,
      workspaceId,
      gatewayUrl,
      secret: secretGiven,
      keyFile: line.flags["key-file"],
      setup: line.flags.setup!,
      setCredential: (credential) => setTestCredential(line, workspaceId, provider, credential),
      snsCertificatePrefix: line.env.SNS_EXTRA_CERT_URL_PREFIX || localSnsCertificatePrefix,
    });
    if (failures > 0) process.exitCode = 1;
    return;
  }
  if (line.flags["key-file"]) throw new UsageError("--key-file is for --provider sendgrid");
  const secret = line.flags.setup ? (secretGiven ?? newWebhookSecret()) : (secretGiven ?? line.env.NGSREACH_WEBHOOK_SECRET);
  if (!secret) throw new UsageError("--secret is required (the workspace's whsec_... secret), or --setup to set a fresh one first");
  if (line.flags.setup) await setTestCredential(line, workspaceId, provider, secret);
  const emailId = crypto.randomUUID();
  const tags = { campaign_id: "simulated-campaign", subscriber_id: "simulated-subscriber" };
  console.log(`sending ${emailEventTypes.length} signed events for email ${emailId} to ${gatewayUrl}`);
  let failures = 0;
  for (const [index, type] of emailEventTypes.entries()) {
    const body = JSON.stringify(sampleEmailEvent(type, { emailId, tags, createdAt: new Date(Date.now() + index) }));
    const response = await fetch(`${gatewayUrl}/webhooks/resend?workspaceId=${encodeURIComponent(workspaceId)}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...signedHeaders(secret, body, { id: newMessageId() }) },
      body,
    });
    const text = await response.text();
    if (!response.ok) failures++;
    console.log(`  ${type.padEnd(24)} ${response.status} ${text}`);
  }
  if (failures > 0) {
    console.error(`${failures} event(s) were not accepted (401 = secret mismatch, 404 = unknown workspace or no secret, 400 = workspaceId)`);
    process.exitCode = 1;
  }
}
