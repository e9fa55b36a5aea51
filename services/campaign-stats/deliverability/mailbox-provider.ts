/**
 * Which mailbox provider receives a send, from the recipient's domain alone (issue 18): Gmail can block a
 * sender while Outlook is fine, so deliverability numbers are kept per provider. A table, no DNS lookups on
 * the hot path; a workspace whose customers' business domains are hosted by Google or Microsoft names those
 * domains in its override list (an MX lookup is the operator's business, once, not ours per event).
 */

export type MailboxProvider = "gmail" | "microsoft" | "yahoo" | "apple" | "other";

/** Every provider, in the order reports list them ("other" last). */
export const mailboxProviders: readonly MailboxProvider[] = ["gmail", "microsoft", "yahoo", "apple", "other"];

/**
 * The consumer domains of each provider. `name.*` is `name` under any top-level domain or two-label country
 * suffix (outlook.de, hotmail.co.uk, yahoo.com.br), never under a longer name (live.example.com is not
 * Microsoft's).
 */
export const providerDomains: Readonly<Record<Exclude<MailboxProvider, "other">, readonly string[]>> = Object.freeze({
  gmail: ["gmail.com", "googlemail.com"],
  microsoft: ["outlook.*", "hotmail.*", "live.*", "msn.com"],
  yahoo: ["yahoo.*", "ymail.com", "rocketmail.com", "aol.com"],
  apple: ["icloud.com", "me.com", "mac.com"],
});

/** A workspace's own rule: mail for `domain` (and its subdomains) is hosted by `provider`. */
export interface ProviderOverride {
  readonly domain: string;
  readonly provider: MailboxProvider;
}

/** Limits on a workspace's override list (it is held in memory by every campaign-stats instance). */
export const overrideLimits = Object.freeze({ entries: 1000, domainLength: 253 });

const anySuffix = /^(?:[a-z]{2,63}|(?:co|com|net|org|ne|or)\.[a-z]{2})$/;
const domainSyntax = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

const exact = new Map<string, MailboxProvider>();
const wildcard = new Map<string, MailboxProvider>();
for (const [provider, domains] of Object.entries(providerDomains) as [MailboxProvider, readonly string[]][]) {
  for (const domain of domains) {
    if (domain.endsWith(".*")) wildcard.set(domain.slice(0, -2), provider);
    else exact.set(domain, provider);
  }
}

/** The domain of an address (or a bare domain), normalised: trimmed, lower-cased, no trailing dot. */
export function domainOf(addressOrDomain: string): string {
  const domain = addressOrDomain.slice(addressOrDomain.lastIndexOf("@") + 1).trim().toLowerCase();
  return domain.endsWith(".") ? domain.slice(0, -1) : domain;
}

/** A workspace's overrides, ready for lookups (see `parseOverrides` for the checks on input). */
export type OverrideIndex = ReadonlyMap<string, MailboxProvider>;

/**
 * The provider of a recipient: the workspace's override for its domain or the nearest parent domain, else
 * the table, else "other". Anything that is not an address or a domain is "other".
 */
export function mailboxProviderOf(recipient: string, overrides: OverrideIndex = new Map()): MailboxProvider {
  const domain = domainOf(recipient);
  if (overrides.size > 0) {
    for (let at = domain; at !== ""; at = at.includes(".") ? at.slice(at.indexOf(".") + 1) : "") {
      const provider = overrides.get(at);
      if (provider) return provider;
    }
  }
  const known = exact.get(domain);
  if (known) return known;
  const dot = domain.indexOf(".");
  if (dot > 0 && anySuffix.test(domain.slice(dot + 1))) return wildcard.get(domain.slice(0, dot)) ?? "other";
  return "other";
}

/** Checks a workspace's override list; throws a message naming the bad entry (the caller maps it). */
export function parseOverrides(entries: readonly { domain: string; provider: string }[]): OverrideIndex {
  if (entries.length > overrideLimits.entries) throw new Error(`at most ${overrideLimits.entries} provider overrides, got ${entries.length}`);
  const index = new Map<string, MailboxProvider>();
  entries.forEach((entry, i) => {
    const domain = domainOf(entry.domain);
    if (entry.domain.includes("@") || !domainSyntax.test(domain)) throw new Error(`override ${i}: "${entry.domain.slice(0, 80)}" is not a domain name`);
    if (!mailboxProviders.includes(entry.provider as MailboxProvider)) {
      throw new Error(`override ${i}: provider must be one of ${mailboxProviders.join(", ")}, got "${entry.provider.slice(0, 40)}"`);
    }
    if (index.has(domain)) throw new Error(`override ${i}: ${domain} is listed twice`);
    index.set(domain, entry.provider as MailboxProvider);
  });
  return index;
}
