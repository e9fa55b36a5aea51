/**
 * The adapter of every provider other than Resend, by the name in its path (`/webhooks/{provider}`).
 * Adding a provider is one adapter file and one line here.
 */
import type { Provider } from "../../shared/providers.ts";
import { createMailgunAdapter } from "./mailgun.ts";
import type { MailgunTokenMemory } from "./mailgun-tokens.ts";
import { createPostmarkAdapter } from "./postmark.ts";
import type { ProviderAdapter } from "./provider-adapter.ts";
import { createSendgridAdapter } from "./sendgrid.ts";
import { createSesAdapter } from "./ses.ts";

export interface AdapterOptions {
  /** Shared by every gateway instance (a database collection in production). */
  mailgunTokens: MailgunTokenMemory;
  /** For tests only: SNS_EXTRA_CERT_URL_PREFIX. */
  snsExtraCertUrlPrefix?: string;
}

export type ProviderAdapters = Record<Exclude<Provider, "resend">, ProviderAdapter<unknown>>;

export function providerAdapters(options: AdapterOptions): ProviderAdapters {
  return {
    ses: createSesAdapter(options.snsExtraCertUrlPrefix ? { extraUrlPrefix: options.snsExtraCertUrlPrefix } : {}) as ProviderAdapter<unknown>,
    sendgrid: createSendgridAdapter() as ProviderAdapter<unknown>,
    postmark: createPostmarkAdapter() as ProviderAdapter<unknown>,
    mailgun: createMailgunAdapter({ tokens: options.mailgunTokens }) as ProviderAdapter<unknown>,
  };
}
