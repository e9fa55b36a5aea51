#!/usr/bin/env node
/**
 * `ngsreach` — the operator's command line for the running stack.
 *
 *   ngsreach secret set    --workspace ID --secret whsec_... [--provider P] [--actor WHO] [--note WHY]
 *   ngsreach secret rotate --workspace ID --secret whsec_... [--provider P] [--ttl SECONDS]
 *   ngsreach secret remove --workspace ID [--provider P] [--all]
 *   ngsreach simulate      --workspace ID [--secret whsec_...] [--url GATEWAY_URL]
 *   ngsreach health        --workspace ID
 *   ngsreach secrets reencrypt [--page-token T] [--actor WHO] [--note WHY]
 *   ngsreach audit         --workspace ID [--limit N]
 *   ngsreach dead-letters list   [--consumer NAME]
 *   ngsreach dead-letters replay --consumer NAME (--all | --seq N[,N...])
 *
 * It talks to the gateway at GATEWAY_URL (default http://127.0.0.1:$GATEWAY_PORT,
 * port 8080), sending INTERNAL_TOKEN when set — the same variables as `npm start`
 * (of named tokens, the one named "cli", so the audit names the command line).
 */
import { parseArgs } from "node:util";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Provider, WebhookSecretRole, WebhookSecretSelector, WorkspaceSettingsService } from "../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { AuditAction } from "../gen/ngsreach/events/v1/audit_pb.ts";
import { emailEventTypes, sampleEmailEvent } from "./resend-samples.ts";
import { newMessageId, signedHeaders } from "./sign.ts";
import { deadLettersCommand } from "./dead-letters.ts";
import { printWebhookState, reencryptCommand } from "./secret-keys.ts";
import { loadBaseConfig, parseInternalTokens } from "../services/shared/config.ts";
import { createLogger } from "../services/shared/log.ts";
import { connectNats } from "../services/shared/nats.ts";

const usage = `usage:
  ngsreach secret set    --workspace ID --secret whsec_... [--provider P] [--actor WHO] [--note WHY]
  ngsreach secret rotate --workspace ID --secret whsec_... [--provider P] [--ttl SECONDS] [--actor WHO] [--note WHY]
  ngsreach secret remove --workspace ID [--provider P] [--all] [--actor WHO] [--note WHY]
      --provider resend (default), ses, sendgrid, postmark or mailgun; --secret is then that provider's
      credential: SNS topic ARN(s), verification key, username:password, or signing key
  ngsreach simulate      --workspace ID [--secret whsec_...] [--url GATEWAY_URL]
  ngsreach health        --workspace ID
  ngsreach secrets reencrypt [--page-token T] [--actor WHO] [--note WHY]   (every secret sealed under SECRETS_KEY's first key)
  ngsreach audit         --workspace ID [--limit N]   (newest first, 50 unless given, at most 10000)
  ngsreach dead-letters list   [--consumer NAME]
  ngsreach dead-letters replay --consumer NAME (--all | --seq N[,N...])
environment: GATEWAY_URL (or GATEWAY_PORT), INTERNAL_TOKEN, NGSREACH_WEBHOOK_SECRET (for simulate), NATS_URL (dead-letters)`;

class UsageError extends Error {}

const { values, positionals } = (() => {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        workspace: { type: "string" },
        secret: { type: "string" },
        provider: { type: "string", default: "resend" },
        url: { type: "string" },
        ttl: { type: "string" },
        all: { type: "boolean", default: false },
        consumer: { type: "string" },
        seq: { type: "string" },
        "page-token": { type: "string" },
        limit: { type: "string" },
        actor: { type: "string", default: process.env.USER ?? "cli" },
        note: { type: "string", default: "" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    process.exit(2);
  }
})();

const gatewayUrl = values.url ?? process.env.GATEWAY_URL ?? `http://127.0.0.1:${process.env.GATEWAY_PORT ?? "8080"}`;

/** The bearer token to send: INTERNAL_TOKEN's only token or, of several named ones, the one named "cli". */
function cliToken(): string | undefined {
  const tokens = parseInternalTokens(process.env.INTERNAL_TOKEN);
  if (tokens.length <= 1) return tokens[0]?.token;
  const own = tokens.find((entry) => entry.name === "cli");
  if (!own) throw new UsageError('INTERNAL_TOKEN names several tokens but none "cli" (add cli:<token>, so audit entries name the command line)');
  return own.token;
}

function required(name: "workspace" | "secret"): string {
  const value = values[name] ?? (name === "secret" ? process.env.NGSREACH_WEBHOOK_SECRET : undefined);
  if (!value) throw new UsageError(`--${name} is required`);
  return value;
}

const providerNames: Record<string, Provider> = {
  resend: Provider.RESEND,
  ses: Provider.SES,
  sendgrid: Provider.SENDGRID,
  postmark: Provider.POSTMARK,
  mailgun: Provider.MAILGUN,
};

function provider(): Provider {
  const name = values.provider!;
  if (!Object.hasOwn(providerNames, name)) throw new UsageError(`--provider must be one of ${Object.keys(providerNames).join(", ")}`);
  return providerNames[name]!;
}

function settingsClient() {
  const token = cliToken();
  const transport = createConnectTransport({
    baseUrl: gatewayUrl,
    httpVersion: "1.1",
    interceptors: token ? [(next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req))] : [],
  });
  return createClient(WorkspaceSettingsService, transport);
}

const roleName = (role: WebhookSecretRole) => (role === WebhookSecretRole.CURRENT ? "current" : "previous");
const time = (ts?: { seconds: bigint }) => (ts ? new Date(Number(ts.seconds) * 1000).toISOString() : "-");

const providerName = (value: Provider) => Object.keys(providerNames).find((name) => providerNames[name] === value) ?? "resend";

function printSecrets(secrets: { fingerprint: string; role: WebhookSecretRole; expireTime?: { seconds: bigint }; provider: Provider }[]) {
  if (secrets.length === 0) console.log("no active webhook secret");
  for (const secret of secrets) {
    const expires = secret.expireTime ? `  expires ${time(secret.expireTime)}` : "";
    console.log(`  ${roleName(secret.role).padEnd(8)} fingerprint ${secret.fingerprint}${expires}  ${providerName(secret.provider)}`);
  }
}

async function secretCommand(action: string | undefined): Promise<void> {
  const workspaceId = required("workspace");
  const fields = { actor: values.actor!, note: values.note!, provider: provider() };
  const client = settingsClient();
  if (action === "set") {
    const { secrets } = await client.setWebhookSecret({ workspaceId, secret: required("secret"), ...fields });
    console.log(`webhook secret set for workspace ${workspaceId} (${values.provider})`);
    printSecrets(secrets);
  } else if (action === "rotate") {
    const ttl = values.ttl === undefined ? undefined : Number(values.ttl);
    if (ttl !== undefined && !Number.isInteger(ttl)) throw new UsageError("--ttl must be a whole number of seconds");
    const { secrets } = await client.rotateWebhookSecret({ workspaceId, newSecret: required("secret"), oldSecretTtlSeconds: ttl, ...fields });
    console.log(`webhook secret rotated for workspace ${workspaceId} (${values.provider}); the previous one stays valid until it expires or is removed`);
    printSecrets(secrets);
  } else if (action === "remove") {
    const which = values.all ? WebhookSecretSelector.ALL : WebhookSecretSelector.PREVIOUS;
    const { removedCount, secrets } = await client.removeWebhookSecret({ workspaceId, which, ...fields });
    console.log(`removed ${removedCount} webhook secret(s) of workspace ${workspaceId} (${values.provider})`);
    printSecrets(secrets);
  } else {
    throw new UsageError(`unknown secret action "${action ?? ""}" (set, rotate or remove)`);
  }
}

/** Sends one signed, realistic event of every Resend email type, like Resend's "send test event". */
async function simulateCommand(): Promise<void> {
  const workspaceId = required("workspace");
  const secret = required("secret");
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

async function healthCommand(): Promise<void> {
  const workspaceId = required("workspace");
  const health = await settingsClient().getWebhookHealth({ workspaceId });
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
}

/** Free text as one terminal line (control characters shown as "?"). */
const printable = (text: string) => text.replace(/[\u0000-\u001f\u007f]/g, "?");
const actionName = (action: AuditAction) =>
  (Object.entries(AuditAction).find(([, value]) => value === action)?.[0] ?? String(action)).toLowerCase();

/** Prints the workspace's newest audit entries, one line each, reading as many pages as --limit needs. */
async function auditCommand(): Promise<void> {
  const workspaceId = required("workspace");
  const limit = values.limit === undefined ? 50 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError("--limit must be a whole number from 1 to 10000");
  const client = settingsClient();
  let shown = 0;
  let pageToken = "";
  do {
    const page = await client.listAuditEntries({ workspaceId, pageSize: Math.min(500, limit - shown), pageToken });
    for (const entry of page.entries.slice(0, limit - shown)) {
      const fields = [time(entry.time), entry.service, actionName(entry.action), `caller=${entry.caller || "-"}`, `actor=${printable(entry.actor) || "-"}`];
      console.log(`${fields.join("  ")}  target=${printable(entry.target) || "-"}${entry.note ? `  note=${JSON.stringify(entry.note)}` : ""}`);
      shown++;
    }
    pageToken = page.nextPageToken;
  } while (pageToken && shown < limit);
  if (shown === 0) console.log(`no audit entries for workspace ${workspaceId}`);
}

async function main(): Promise<void> {
  const [command, action] = positionals;
  if (values.help || !command) {
    console.log(usage);
    return;
  }
  if ((command === "secrets" || command === "secret") && action === "reencrypt") {
    const done = await reencryptCommand(settingsClient(), { actor: values.actor!, note: values.note! }, values["page-token"]);
    if (!done) process.exitCode = 1;
    return;
  }
  if (command === "secret") return await secretCommand(action);
  if (command === "simulate") return await simulateCommand();
  if (command === "health") return await healthCommand();
  if (command === "audit") return await auditCommand();
  if (command === "dead-letters") {
    if (action !== "list" && action !== "replay") throw new UsageError(`unknown dead-letters action "${action ?? ""}" (list or replay)`);
    if (action === "replay" && (!values.consumer || (!values.all && !values.seq))) {
      throw new UsageError("dead-letters replay needs --consumer NAME and --all or --seq N");
    }
    const nats = await connectNats(loadBaseConfig().natsUrl, "ngsreach-cli", createLogger({}, "error"));
    try {
      return await deadLettersCommand(nats, action, { consumer: values.consumer, all: values.all, seq: values.seq });
    } finally {
      await nats.nc.close();
    }
  }
  throw new UsageError(`unknown command "${command}"`);
}

main().catch((error: unknown) => {
  if (error instanceof UsageError) {
    console.error(`${error.message}\n${usage}`);
    process.exit(2);
  }
  if (error instanceof ConnectError) {
    const reason = error.code === Code.Unavailable ? `cannot reach the gateway at ${gatewayUrl} (is the stack running?)` : error.rawMessage;
    console.error(`ngsreach: ${reason} [${Code[error.code]}]`);
    process.exit(1);
  }
  console.error(`ngsreach: ${(error as Error).message}`);
  process.exit(1);
});
