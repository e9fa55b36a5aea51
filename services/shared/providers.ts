/**
 * The sending providers, as every service sees them: their names, the API enum, and how a send of each
 * is known inside NgsReach. A Resend email id is used as Resend gives it (every send stored before other
 * providers existed is Resend's); any other provider's message id is prefixed with the provider's name,
 * "sendgrid:14c5d75ce93", so two providers' ids can never name the same send, and every service keys its
 * documents on that one string without knowing which provider it came from.
 */
import { Provider as ApiProvider } from "../../gen/ngsreach/events/v1/provider_pb.ts";
import { InvalidArgumentError } from "./errors.ts";

export const providers = ["resend", "ses", "sendgrid", "postmark", "mailgun"] as const;
export type Provider = (typeof providers)[number];

const fromApi: Record<ApiProvider, Provider> = {
  [ApiProvider.UNSPECIFIED]: "resend",
  [ApiProvider.RESEND]: "resend",
  [ApiProvider.SES]: "ses",
  [ApiProvider.SENDGRID]: "sendgrid",
  [ApiProvider.POSTMARK]: "postmark",
  [ApiProvider.MAILGUN]: "mailgun",
};

const toApi: Record<Provider, ApiProvider> = {
  resend: ApiProvider.RESEND,
  ses: ApiProvider.SES,
  sendgrid: ApiProvider.SENDGRID,
  postmark: ApiProvider.POSTMARK,
  mailgun: ApiProvider.MAILGUN,
};

export const isProvider = (name: string): name is Provider => (providers as readonly string[]).includes(name);

/** The provider of a request field: unset is Resend (callers from before providers); a number outside the enum is refused. */
export function providerFromApi(value: ApiProvider, field = "provider"): Provider {
  const known = Object.hasOwn(fromApi, value) ? fromApi[value] : undefined;
  if (!known) throw new InvalidArgumentError(field, "unknown provider (RESEND, SES, SENDGRID, POSTMARK or MAILGUN)");
  return known;
}

/** The provider of a stored envelope: unset (older messages) is Resend; an unknown number reads as undefined. */
export const envelopeProvider = (value: ApiProvider): Provider | undefined => (Object.hasOwn(fromApi, value) ? fromApi[value] : undefined);

export const providerToApi = (provider: Provider): ApiProvider => toApi[provider];

/** How NgsReach knows a provider's message id: Resend's as is, another's as "<provider>:<id>". */
export function emailIdOf(provider: Provider, messageId: string): string {
  return provider === "resend" ? messageId : `${provider}:${messageId}`;
}

/** The provider of an email id as emailIdOf made it: a known provider's prefix, else Resend. */
export function providerOfEmailId(emailId: string): Provider {
  const colon = emailId.indexOf(":");
  if (colon <= 0) return "resend";
  const prefix = emailId.slice(0, colon);
  return isProvider(prefix) && prefix !== "resend" ? prefix : "resend";
}

/**
 * The email id of a message id given with a provider (RecordSend, GetSend): an id already in the
 * prefixed form is taken as it is, so a Send's email_id can be passed back with the provider unset.
 * Mailgun's send API answers its id in angle brackets ("<2024...@mg.example.com>") while its webhooks
 * carry it without: they are removed.
 */
export function emailIdFromRequest(provider: Provider, messageId: string): string {
  if (provider === "resend") return messageId;
  let id = messageId.trim();
  if (provider === "mailgun" && id.startsWith("<") && id.endsWith(">")) id = id.slice(1, -1);
  return id.startsWith(`${provider}:`) ? id : emailIdOf(provider, id);
}

/** The event id (envelope svix_id) of a provider's own event id: Svix's as is, another's as "<provider>:<id>". */
export const eventIdOf = (provider: Provider, providerEventId: string): string => emailIdOf(provider, providerEventId);
