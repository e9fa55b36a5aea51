/**
 * The fixes the doctor prints for webhook problems, in one place, so the
 * same advice reads the same in every check (and matches the README's
 * "Troubleshooting webhooks" table).
 */
import { providers, type Provider } from "../../services/shared/providers.ts";

/** What each provider calls the credential `secret set --provider P` takes. */
export const credentialOf: Record<Provider, string> = {
  resend: "the webhook's Signing secret (whsec_...) in Resend's dashboard",
  ses: "the SNS topic ARN(s) SES publishes the events to",
  sendgrid: "the Signed Event Webhook's Verification Key",
  postmark: "the webhook's basic-auth username:password",
  mailgun: "the HTTP webhook signing key (Sending -> Webhooks)",
};

/** `secret set` for a workspace, with the secret read from standard input so it stays out of shell history. */
export const setSecretCommand = (workspaceId: string, provider = "P") => `ngsreach secret set --workspace ${workspaceId} --provider ${provider} --secret -`;

export const providerList = providers.join("|");

/** How to give the workspace a credential, and what each provider's is. */
export const credentialFixes = (workspaceId: string): string[] => [
  `set the credential of the provider that sends the events (P: ${providers.join(", ")}): ${setSecretCommand(workspaceId)}`,
  `what --secret takes: ${providers.map((provider) => `${provider}: ${credentialOf[provider]}`).join("; ")}`,
];

export const checkWorkspaceInUrl = (workspaceId: string) =>
  `check that the provider's webhook URL is <gateway>/webhooks/<${providerList}>?workspaceId=${workspaceId} (requests with a mistyped workspaceId are answered 400/404 and counted only in the gateway's metrics, never here)`;

export const secretsKeyFix = (keyIds: readonly string[]) =>
  `the secret was sealed with SECRETS_KEY key id ${keyIds.map((id) => `"${id}"`).join(", ")}, which the gateway's SECRETS_KEY lacks: add that key back after the first (keyId:base64,...) on every gateway instance, restart them, then run "ngsreach secrets reencrypt"; or set a new secret ("ngsreach secret set") and the same one at the provider`;
