/**
 * What of a send is the subscriber's personal data, and the same things without it (issue 17). Pure
 * functions over the stored shapes: the erasure, the events that arrive for an erased send and a
 * RecordSend repeating its registration all take the data away the same way.
 *
 * Gone: the recipient address and the subscriber id (registration, projected state, the facts' copies
 * from tags and `to`), a click's IP address and user agent, and the address wherever free text carries
 * it (bounce message and diagnostic, failure reason, suppression message, the click link — there also
 * percent-encoded, as a query string carries it). Kept: every type, time, count and the campaign, so a
 * campaign's history stays true.
 */
import type { EventFact, Registration } from "../send-projection.ts";
import type { TimelineDetail, TimelineEntry } from "../sends-repository.ts";

/** What an erased address reads as in free text. */
export const erasedText = "[erased]";

/** Free text with the personal data taken out. */
export type Scrub = (text: string) => string;

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Takes out each of `addresses`, in any letter case, as written and percent-encoded. */
export function addressScrub(addresses: Iterable<string>): Scrub {
  const forms = new Set<string>();
  for (const address of addresses) {
    if (!address) continue;
    forms.add(address);
    forms.add(encodeURIComponent(address));
  }
  if (forms.size === 0) return (text) => text;
  // Longest first: an address that contains another one is taken out whole.
  const pattern = new RegExp([...forms].sort((a, b) => b.length - a.length).map(escapeRegExp).join("|"), "gi");
  return (text) => text.replace(pattern, erasedText);
}

// The local part without the characters that delimit it in a URL (/ ? = &), so a link keeps its path.
const anyAddress = /[\p{L}\p{N}._%+'-]+(?:@|%40)[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)+/giu;

/**
 * Takes out anything that looks like an address (also percent-encoded): for an event of a send erased
 * before it came, whose addresses are no longer known. It may take out an address of nobody in
 * particular (a postmaster's) too; that costs a bounce message some detail, never a status.
 */
export const anyAddressScrub: Scrub = (text) => text.replace(anyAddress, erasedText);

/** The registration without recipient and subscriber id. */
export function erasedRegistration(registration: Registration): Registration {
  return { ...registration, recipient: "", subscriberId: "" };
}

/** The fact without the copies of recipient and subscriber id its event carried, its texts scrubbed. */
export function erasedFact(fact: EventFact, scrub: Scrub): EventFact {
  const { soleRecipient: _recipient, subscriberTag: _subscriber, ...kept } = fact;
  const erased: EventFact = { ...kept };
  if (fact.bounce) erased.bounce = { ...fact.bounce, message: scrub(fact.bounce.message), diagnosticCode: scrub(fact.bounce.diagnosticCode) };
  if (fact.failureReason !== undefined) erased.failureReason = scrub(fact.failureReason);
  if (fact.suppression) erased.suppression = { ...fact.suppression, message: scrub(fact.suppression.message) };
  return erased;
}

/** The entry's detail fields without personal data; undefined when it holds none. */
export function erasedDetail(entry: TimelineEntry, scrub: Scrub): TimelineDetail | undefined {
  const detail: TimelineDetail = {};
  if (entry.click) {
    const click = { ...entry.click, link: scrub(entry.click.link), ipAddress: "", userAgent: "" };
    if (click.link !== entry.click.link || entry.click.ipAddress !== "" || entry.click.userAgent !== "") detail.click = click;
  }
  if (entry.bounce) {
    const bounce = { ...entry.bounce, message: scrub(entry.bounce.message), diagnosticCode: scrub(entry.bounce.diagnosticCode) };
    if (bounce.message !== entry.bounce.message || bounce.diagnosticCode !== entry.bounce.diagnosticCode) detail.bounce = bounce;
  }
  if (entry.failed) {
    const reason = scrub(entry.failed.reason);
    if (reason !== entry.failed.reason) detail.failed = { reason };
  }
  if (entry.suppressed) {
    const message = scrub(entry.suppressed.message);
    if (message !== entry.suppressed.message) detail.suppressed = { ...entry.suppressed, message };
  }
  return Object.keys(detail).length > 0 ? detail : undefined;
}

/** The entry without personal data (for what is shown of it, e.g. a live notification). */
export function erasedEntry(entry: TimelineEntry, scrub: Scrub): TimelineEntry {
  return { ...entry, ...erasedDetail(entry, scrub) };
}
