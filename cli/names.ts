/**
 * The words the command line uses for the APIs' enums: the generated key in
 * lower case ("delivery_delayed", "soft_bounce_policy"), so a flag takes what a
 * table shows, and a mistyped one is refused with the list of choices.
 */
import { MailboxProvider } from "../gen/ngsreach/events/v1/mailbox_provider_pb.ts";
import { Provider as ApiProvider } from "../gen/ngsreach/events/v1/provider_pb.ts";
import { envelopeProvider, isProvider, providerToApi, providers, type Provider } from "../services/shared/providers.ts";
import { UsageError } from "./usage-error.ts";

/** One enum's names, without its UNSPECIFIED value. */
export interface EnumWords<V extends number> {
  /** The word of a value ("unknown(9)" for a value newer than this build). */
  name(value: number): string;
  /** The value of a word given with `--flag`; a UsageError listing the choices otherwise. */
  parse(word: string, flag: string): V;
  readonly choices: readonly string[];
}

export function enumWords<V extends number>(values: Readonly<Record<string, V>>, only?: readonly string[]): EnumWords<V> {
  const entries = Object.entries(values)
    .filter(([key]) => key !== "UNSPECIFIED")
    .map(([key, value]) => [key.toLowerCase(), value] as const);
  const choices = entries.map(([word]) => word).filter((word) => !only || only.includes(word));
  return {
    choices,
    name: (value) => entries.find(([, known]) => known === value)?.[0] ?? `unknown(${value})`,
    parse(word, flag) {
      const found = entries.find(([known]) => known === word.trim().toLowerCase() && choices.includes(known));
      if (!found) throw new UsageError(`${flag} must be one of ${choices.join(", ")}`);
      return found[1];
    },
  };
}

/** `--provider`: resend (the default), ses, sendgrid, postmark or mailgun. */
export function parseProvider(word: string | undefined): Provider {
  const name = word ?? "resend";
  if (!isProvider(name)) throw new UsageError(`--provider must be one of ${providers.join(", ")}`);
  return name;
}

export const apiProvider = (provider: Provider): ApiProvider => providerToApi(provider);

/** A Provider field as the command line names it (unset, as older records have it: resend). */
export const providerName = (value: ApiProvider): string => envelopeProvider(value) ?? `unknown(${value})`;

/** The words for mailbox providers ("gmail", "microsoft", ...). */
export const mailboxProviderWords = enumWords(MailboxProvider);
