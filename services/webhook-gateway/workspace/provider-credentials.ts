/**
 * What a workspace may store as a webhook credential, per sending provider (issue 14): the Resend
 * (Svix) secret keeps its own check (secret-format.ts); every other provider's credential is checked
 * and fingerprinted by that provider's adapter, so what is accepted here is exactly what its endpoint
 * will be able to use. Stored secrets without a provider predate the others and are Resend's.
 */
import { InvalidArgumentError } from "../../shared/errors.ts";
import { fingerprint as mailgunFingerprint, parseCredential as parseMailgun } from "../providers/mailgun.ts";
import { fingerprint as postmarkFingerprint, parseCredential as parsePostmark } from "../providers/postmark.ts";
import { providers, type Provider } from "../providers/provider-adapter.ts";
import { fingerprint as sendgridFingerprint, parseCredential as parseSendgrid } from "../providers/sendgrid.ts";
import { fingerprint as sesFingerprint, parseCredential as parseSes } from "../providers/ses.ts";
import { secretFingerprint } from "./secret-box.ts";
import { requireWebhookSecret } from "./secret-format.ts";

export { providers, type Provider };

interface CredentialRules {
  /** Throws when the text is not a credential of the provider; the message never echoes the value. */
  check(text: string, field: string): void;
  fingerprint(text: string): string;
}

/** An adapter's check, turned into InvalidArgument naming the field (its messages never echo the value). */
const viaAdapter = (parse: (text: string) => unknown, fingerprint: (text: string) => string): CredentialRules => ({
  check(text, field) {
    try {
      parse(text);
    } catch (error) {
      throw new InvalidArgumentError(field, (error as Error).message);
    }
  },
  fingerprint,
});

const rules: Record<Provider, CredentialRules> = {
  resend: { check: (text, field) => void requireWebhookSecret(text, field), fingerprint: secretFingerprint },
  ses: viaAdapter(parseSes, sesFingerprint),
  sendgrid: viaAdapter(parseSendgrid, sendgridFingerprint),
  postmark: viaAdapter(parsePostmark, postmarkFingerprint),
  mailgun: viaAdapter(parseMailgun, mailgunFingerprint),
};

/** The provider a stored secret belongs to: one stored before providers existed is Resend's. */
export const providerOf = (secret: { provider?: Provider }): Provider => secret.provider ?? "resend";

/** Returns the credential or throws InvalidArgument naming the field (never echoing the value). */
export function requireCredential(provider: Provider, text: string, field: string): string {
  rules[provider].check(text, field);
  return text;
}

/** A fingerprint safe to show, computed as the provider's adapter does. */
export const credentialFingerprint = (provider: Provider, text: string): string => rules[provider].fingerprint(text);
