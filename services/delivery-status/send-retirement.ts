/**
 * Keeping a send document bounded: once it holds more than `keptFactsLimit`
 * facts, the ones no status decision needs (every open but the first and the
 * last, ...) are retired — counted in `RetiredCounts`, their svix ids marked
 * folded on their timeline entries and listed on a timeline page, and removed
 * from the document. An image proxy opening one email 10,000 times then costs
 * the same per write as the hundredth open did.
 *
 * Only facts of the document as read (stored, so folded) are retired, never
 * the ones the write being decided adds: a write that loses its version guard
 * must leave nothing that says its facts were folded.
 */
import { addRetired, decidingFacts, type EventFact, type RetiredCounts } from "./send-projection.ts";

/** Above this many facts a send document retires the facts that decide nothing but a count. */
export const keptFactsLimit = 100;

export interface Retirement {
  /** The facts the document keeps. */
  kept: EventFact[];
  /** The facts it no longer keeps (all from the stored document). */
  retired: EventFact[];
  /** The document's retired counts after this retirement. */
  counts: RetiredCounts;
}

/**
 * What to retire when a send goes from `stored` facts to `next` (a superset); undefined when it keeps
 * everything (at most `keptFactsLimit` facts, or nothing stored left to retire).
 */
export function planRetirement(stored: readonly EventFact[], next: readonly EventFact[], counts: RetiredCounts): Retirement | undefined {
  if (next.length <= keptFactsLimit) return undefined;
  const deciding = new Set(decidingFacts(next).map((fact) => fact.svixId));
  const retired = stored.filter((fact) => !deciding.has(fact.svixId));
  if (retired.length === 0) return undefined;
  const gone = new Set(retired.map((fact) => fact.svixId));
  return { kept: next.filter((fact) => !gone.has(fact.svixId)), retired, counts: addRetired(counts, retired) };
}
