/**
 * A send's statistics state and what it contributes to its campaign — pure
 * functions, no I/O.
 *
 * Why "contribution": the stored campaign totals are the sum, over the
 * campaign's sends, of each send's contribution. When an event (or the
 * attribution) changes a send, the service computes the send's new
 * contribution from its full state and moves the campaign by the difference
 * to the contribution it stored last time. So the result depends only on the
 * set of events a send has, never on their order, and re-attribution or a late
 * delivery (which reclassifies earlier clicks as scanner clicks) needs no
 * special case.
 *
 * Bounded: the state keeps counts, not events — opens per hour, clicks per
 * hour and per link — and only the clicks whose scanner verdict a later event
 * can still change one by one (`settleClicks`), so a send opened 10,000 times
 * is no bigger than one opened in as many hours. Its size grows with the hours
 * and links it has events in, never with the number of events.
 *
 * Reconstructed facts (a reconciliation run read them from Resend's API, issue
 * 16) are kept apart, one time per kind (`reconstructed`): they only say that
 * a fact of that kind happened at or after the email was sent. Each stands in
 * for the real facts of its kind — delivered, bounced, unique open or click —
 * only while the send has none, and never adds to event totals (opens, clicks,
 * scanner clicks) or to a link, whose real numbers are unknown. So when the
 * real events arrive, in any order, the send contributes exactly what they
 * alone would.
 */
import { countFields, zeroCounts, type CountField, type Counts } from "./counts.ts";
import type { MailboxProvider } from "./deliverability/mailbox-provider.ts";
import { providerFields } from "./deliverability/provider-counts.ts";
import { isScannerClick } from "./scanner.ts";
import { defaultMachineOpenWindowMs, isMachineOpen, isOpenFinal, undecidedOpenCap } from "./machine-opens.ts";

/** One click event as kept on the send. */
export interface ClickRecord {
  /** Click time (click.timestamp, else the event time), epoch ms. */
  t: number;
  link: string;
  /** The user agent matched a scanner pattern when the click arrived. */
  uaScanner: boolean;
}

/** Opens in one UTC hour. */
export interface HourOpens {
  hour: number;
  n: number;
}

/** Clicks in one UTC hour whose scanner verdict is final. */
export interface HourClicks {
  hour: number;
  clicks: number;
  scanner: number;
}

/** One link's clicks whose scanner verdict is final. */
export interface LinkClicks {
  link: string;
  clicks: number;
  scanner: number;
  first: number;
  last: number;
}

/**
 * Rule 2 of the scanner rule (a click before delivery + window) judges a send's first 100 clicks without a
 * scanner user agent, by time; later ones count as human. Security scanners click each link once within
 * seconds of delivery, so real sends never come near it; it bounds the clicks a send keeps one by one.
 */
export const undecidedClickCap = 100;

/** Everything about one send that statistics need. Times are epoch ms; null = not seen. */
export interface SendState {
  campaignId: string | null;
  attributedBy: "record" | "tag" | null;
  recordedSentAt: number | null;
  sentEventAt: number | null;
  deliveredAt: number | null;
  delayedAt: number | null;
  hardBouncedAt: number | null;
  softBouncedAt: number | null;
  complainedAt: number | null;
  failedAt: number | null;
  suppressedAt: number | null;
  /** First email.unsubscribed (any provider's report of it). */
  unsubscribedAt: number | null;
  /** email.opened events per hour whose machine verdict is final (human), ascending by hour. */
  openHours: HourOpens[];
  /** Times of the opens whose machine verdict a later delivery may still change (machine-opens.ts), ascending. */
  undecidedOpens: number[];
  firstOpenAt: number | null;
  /**
   * Clicks whose verdict a later event may still change — no scanner user agent, and before delivery +
   * window or no delivery known yet — ascending by (time, link), at most `undecidedClickCap` after
   * `settleClicks`.
   */
  clicks: ClickRecord[];
  /** Clicks whose verdict is final, per hour (ascending) and per link (ascending). */
  clickHours: HourClicks[];
  clickLinks: LinkClicks[];
  firstClickAt: number | null;
  /** The earliest reconstructed fact of each kind (the email's sent time at the provider); absent = none. */
  reconstructed: ReconstructedTimes;
  /**
   * The recipient's mailbox provider (deliverability/mailbox-provider.ts), from the registration's recipient
   * (authoritative, like its campaign) or else the first event's; null = not known yet, counted as "other".
   * Only the provider is kept, never the address: campaign-stats holds no personal data.
   */
  recipientProvider: { provider: MailboxProvider; by: "record" | "event" } | null;
}

/** Per kind of fact, the time of the earliest reconstructed one. */
export type ReconstructedTimes = Partial<Record<SendFact["kind"], number>>;

/** A send no event has touched yet. */
export function emptySendState(): SendState {
  return {
    campaignId: null,
    attributedBy: null,
    recordedSentAt: null,
    sentEventAt: null,
    deliveredAt: null,
    delayedAt: null,
    hardBouncedAt: null,
    softBouncedAt: null,
    complainedAt: null,
    failedAt: null,
    suppressedAt: null,
    unsubscribedAt: null,
    openHours: [],
    undecidedOpens: [],
    firstOpenAt: null,
    clicks: [],
    clickHours: [],
    clickLinks: [],
    firstClickAt: null,
    reconstructed: {},
    recipientProvider: null,
  };
}

/** A state as stored before it kept counts (every open time, every click), or in the current shape. */
export type StoredSendState = Omit<SendState, "openHours" | "undecidedOpens" | "firstOpenAt" | "clickHours" | "clickLinks" | "firstClickAt" | "unsubscribedAt" | "reconstructed" | "recipientProvider"> &
  Partial<SendState> & { opens?: number[] };

/**
 * The current shape of a stored state. An old one keeps every click as undecided (so its contribution is
 * what it was) until the next `settleClicks`; one stored before unsubscribes were counted has none, and
 * one stored before reconstructed events were counted has no reconstructed fact.
 */
export function upgradeSendState(stored: StoredSendState): SendState {
  const { opens, ...rest } = stored;
  // Absent must read as null, not undefined: contributionOf counts every time that is not null.
  // Opens stored before the machine-open rule were tallied as they came: human.
  const state = { ...rest, unsubscribedAt: rest.unsubscribedAt ?? null, reconstructed: rest.reconstructed ?? {}, recipientProvider: rest.recipientProvider ?? null, undecidedOpens: rest.undecidedOpens ?? [] };
  if (state.openHours && state.clickHours && state.clickLinks) return state as SendState;
  let openHours: HourOpens[] = [];
  for (const t of opens ?? []) openHours = addOpen(openHours, t);
  const clicks = [...(state.clicks ?? [])].sort(compareClicks);
  return {
    ...state,
    openHours,
    firstOpenAt: opens && opens.length > 0 ? Math.min(...opens) : null,
    clicks,
    clickHours: [],
    clickLinks: [],
    firstClickAt: clicks.length > 0 ? clicks[0]!.t : null,
  };
}

/** The times with one more, ascending. */
function insertSorted(times: readonly number[], t: number): number[] {
  const at = times.findIndex((other) => other > t);
  return at < 0 ? [...times, t] : [...times.slice(0, at), t, ...times.slice(at)];
}

const compareClicks = (a: ClickRecord, b: ClickRecord) => a.t - b.t || (a.link < b.link ? -1 : a.link > b.link ? 1 : Number(a.uaScanner) - Number(b.uaScanner));

function addOpen(openHours: readonly HourOpens[], t: number): HourOpens[] {
  const hour = hourOf(t);
  const index = openHours.findIndex((entry) => entry.hour >= hour);
  if (index >= 0 && openHours[index]!.hour === hour) return openHours.with(index, { hour, n: openHours[index]!.n + 1 });
  const at = index < 0 ? openHours.length : index;
  return [...openHours.slice(0, at), { hour, n: 1 }, ...openHours.slice(at)];
}

/** The tallies with one more click whose verdict is final. */
function tallyClick(state: SendState, click: ClickRecord, scanner: boolean): Pick<SendState, "clickHours" | "clickLinks"> {
  const hour = hourOf(click.t);
  const s = scanner ? 1 : 0;
  const h = state.clickHours.findIndex((entry) => entry.hour >= hour);
  const clickHours =
    h >= 0 && state.clickHours[h]!.hour === hour
      ? state.clickHours.with(h, { hour, clicks: state.clickHours[h]!.clicks + 1, scanner: state.clickHours[h]!.scanner + s })
      : [...state.clickHours.slice(0, h < 0 ? state.clickHours.length : h), { hour, clicks: 1, scanner: s }, ...state.clickHours.slice(h < 0 ? state.clickHours.length : h)];
  const l = state.clickLinks.findIndex((entry) => entry.link >= click.link);
  const link = l >= 0 ? state.clickLinks[l]! : undefined;
  const clickLinks =
    link && link.link === click.link
      ? state.clickLinks.with(l, { link: link.link, clicks: link.clicks + 1, scanner: link.scanner + s, first: Math.min(link.first, click.t), last: Math.max(link.last, click.t) })
      : [
          ...state.clickLinks.slice(0, l < 0 ? state.clickLinks.length : l),
          { link: click.link, clicks: 1, scanner: s, first: click.t, last: click.t },
          ...state.clickLinks.slice(l < 0 ? state.clickLinks.length : l),
        ];
  return { clickHours, clickLinks };
}

/**
 * Moves the clicks whose scanner verdict, and the opens whose machine verdict, can no longer change into
 * the tallies: those at or after delivery + window (the first delivery only moves earlier, so they stay
 * human) and those past the first `undecidedClickCap` / `undecidedOpenCap` (human by rule). Does not change
 * the contribution; returns `state` itself when nothing moves.
 */
export function settleClicks(state: SendState, rules: ContributionRules): SendState {
  return settleFinalClicks(settleOpens(state, rules), rules);
}

/** Moves the opens whose machine verdict can no longer change (human for good) into the hourly tallies. */
function settleOpens(state: SendState, rules: ContributionRules): SendState {
  const windowMs = rules.machineOpenWindowMs ?? defaultMachineOpenWindowMs;
  if (!state.undecidedOpens.some((t, rank) => isOpenFinal(t, rank, state.deliveredAt, windowMs))) return state;
  let openHours = state.openHours;
  const undecidedOpens: number[] = [];
  state.undecidedOpens.forEach((t, rank) => {
    if (isOpenFinal(t, rank, state.deliveredAt, windowMs)) openHours = addOpen(openHours, t);
    else undecidedOpens.push(t);
  });
  return { ...state, openHours, undecidedOpens };
}

function settleFinalClicks(state: SendState, rules: ContributionRules): SendState {
  // The real delivery only: a reconstructed one is the sent time, and the real one after it may still make
  // a click at or after it + window a scanner's.
  const deliveredAt = state.deliveredAt;
  const final = (click: ClickRecord, rank: number) =>
    click.uaScanner || rank >= undecidedClickCap || (deliveredAt !== null && click.t >= deliveredAt + rules.scannerWindowMs);
  const ranks = rankOfClicks(state.clicks);
  if (!state.clicks.some((click, index) => final(click, ranks[index]!))) return state;
  let next: SendState = { ...state, clicks: [] };
  state.clicks.forEach((click, index) => {
    // Only a scanner's user agent makes a final verdict "scanner" (clicks stored before tallies existed hold those too).
    if (final(click, ranks[index]!)) next = { ...next, ...tallyClick(next, click, click.uaScanner) };
    else next.clicks.push(click);
  });
  return next;
}

/** Each click's place among the clicks without a scanner user agent (those rule 2 judges), in list order. */
function rankOfClicks(clicks: readonly ClickRecord[]): number[] {
  let rank = 0;
  return clicks.map((click) => (click.uaScanner ? -1 : rank++));
}

/** What one Resend event says about a send, already classified. */
export type SendFact =
  | {
      kind: "sent" | "delivered" | "delayed" | "hardBounced" | "softBounced" | "complained" | "failed" | "suppressed" | "unsubscribed" | "opened";
      t: number;
    }
  | { kind: "clicked"; t: number; link: string; uaScanner: boolean };

const firstTimeField = {
  sent: "sentEventAt",
  delivered: "deliveredAt",
  delayed: "delayedAt",
  hardBounced: "hardBouncedAt",
  softBounced: "softBouncedAt",
  complained: "complainedAt",
  failed: "failedAt",
  suppressed: "suppressedAt",
  unsubscribed: "unsubscribedAt",
} as const;

const earliest = (current: number | null, t: number) => (current === null ? t : Math.min(current, t));

/** A copy of the state, attributed to the tag's campaign if nothing attributed it yet. */
function attributedByTag(state: SendState, tagCampaignId: string | undefined): SendState {
  return state.campaignId === null && tagCampaignId ? { ...state, campaignId: tagCampaignId, attributedBy: "tag" } : { ...state };
}

/** The state after one more (distinct) event; `tagCampaignId` attributes an unattributed send. */
export function applyFact(state: SendState, fact: SendFact, tagCampaignId?: string): SendState {
  let next = attributedByTag(state, tagCampaignId);
  if (fact.kind === "opened") {
    // Judged by the delivery time, which may come later: waits one by one until settleClicks finds it final.
    next.undecidedOpens = insertSorted(next.undecidedOpens, fact.t);
    next.firstOpenAt = earliest(next.firstOpenAt, fact.t);
  } else if (fact.kind === "clicked") {
    const click = { t: fact.t, link: fact.link, uaScanner: fact.uaScanner };
    next.firstClickAt = earliest(next.firstClickAt, fact.t);
    // A scanner's user agent is a final verdict; any other click waits for the delivery it is judged by.
    if (click.uaScanner) next = { ...next, ...tallyClick(next, click, true) };
    else next.clicks = [...next.clicks, click].sort(compareClicks);
  } else {
    const field = firstTimeField[fact.kind];
    next[field] = earliest(next[field], fact.t);
  }
  return next;
}

/**
 * The state after one more (distinct) reconstructed event: only its kind and time count — a reconstructed
 * click has no link, user agent or click time (Resend's last_event says none).
 */
export function applyReconstructedFact(state: SendState, fact: Pick<SendFact, "kind" | "t">, tagCampaignId?: string): SendState {
  const current = state.reconstructed[fact.kind];
  return {
    ...attributedByTag(state, tagCampaignId),
    reconstructed: { ...state.reconstructed, [fact.kind]: current === undefined ? fact.t : Math.min(current, fact.t) },
  };
}

/** The state after SendRecorded: the registration is authoritative over a tag (and over events, for the provider). */
export function applyRecord(state: SendState, campaignId: string, sentAt: number, provider?: MailboxProvider): SendState {
  const recipientProvider = provider ? { provider, by: "record" as const } : state.recipientProvider;
  return { ...state, campaignId, attributedBy: "record", recordedSentAt: sentAt, recipientProvider };
}

/** The state with the provider an event's recipient tells, unless one is known already. */
export function withEventProvider(state: SendState, provider: MailboxProvider | undefined): SendState {
  return provider && state.recipientProvider === null ? { ...state, recipientProvider: { provider, by: "event" } } : state;
}

/** One document a send contributes to, with the amounts. Stored on the send, so arrays, never dotted keys. */
export type ContributionPart =
  | {
      kind: "campaign";
      campaignId: string;
      /**
       * Set on a send's stored contribution: the counts are also the provider's, and `atProviders` spells them
       * out as `<provider>:<field>` when deltas are taken (kept compact on the send: half its size, which
       * FerretDB decodes and encodes on every event). Unset on a delta, whose `inc` holds those keys itself.
       */
      provider?: MailboxProvider;
      inc: Partial<Counts> & Record<string, number | undefined>;
    }
  | { kind: "hour"; campaignId: string; hour: number; inc: Partial<Counts> }
  /**
   * One UTC day of the workspace (every campaign's sends), per mailbox provider: on a stored contribution
   * `inc` holds the counts and `provider` whose they are; on a delta (no `provider`) only `<provider>:<field>`
   * keys (deliverability/provider-counts.ts). `campaignId` is the send's; the day's document does not depend
   * on it, so a send moving between campaigns moves nothing here.
   */
  | { kind: "day"; campaignId: string; day: number; provider?: MailboxProvider; inc: Record<string, number | undefined> }
  | {
      kind: "link";
      campaignId: string;
      link: string;
      inc: { clicks?: number; uniqueClicks?: number; scannerClicks?: number };
      firstClickAt?: number;
      lastClickAt?: number;
    };

export const hourMs = 3_600_000;
/** Start of the UTC hour of an instant. */
export const hourOf = (t: number) => Math.floor(t / hourMs) * hourMs;
export const dayMs = 24 * hourMs;
/** Start of the UTC day of an instant. */
export const dayOf = (t: number) => Math.floor(t / dayMs) * dayMs;

/** Rules the contribution depends on. */
export interface ContributionRules {
  scannerWindowMs: number;
  /** Opens earlier than this after delivery are machine opens (machine-opens.ts); default 5 s. */
  machineOpenWindowMs?: number;
}

/** What the send adds to its campaign's totals, hours and links (nothing while unattributed). */
export function contributionOf(state: SendState, rules: ContributionRules): ContributionPart[] {
  const campaignId = state.campaignId;
  if (campaignId === null) return [];
  const total = zeroCounts();
  const hours = new Map<number, Counts>();
  const days = new Map<number, Counts>();
  const add = (field: CountField, t: number, amount = 1) => {
    total[field] += amount;
    for (const [buckets, start] of [[hours, hourOf(t)], [days, dayOf(t)]] as const) {
      let counts = buckets.get(start);
      if (!counts) buckets.set(start, (counts = zeroCounts()));
      counts[field] += amount;
    }
  };
  // A reconstructed fact decides only while no real fact of its kind exists (real ?? reconstructed).
  const standIn = (real: number | null, kind: SendFact["kind"]) => real ?? state.reconstructed[kind] ?? null;
  const deliveredAt = standIn(state.deliveredAt, "delivered");
  const once: [CountField, number | null][] = [
    ["sent", standIn(state.recordedSentAt ?? state.sentEventAt, "sent")],
    ["delivered", deliveredAt],
    ["deliveryDelayed", standIn(state.delayedAt, "delayed")],
    ["hardBounced", standIn(state.hardBouncedAt, "hardBounced")],
    ["softBounced", standIn(state.softBouncedAt, "softBounced")],
    ["complained", standIn(state.complainedAt, "complained")],
    ["failed", standIn(state.failedAt, "failed")],
    ["suppressed", standIn(state.suppressedAt, "suppressed")],
    ["unsubscribed", standIn(state.unsubscribedAt, "unsubscribed")],
    ["uniqueOpens", standIn(state.firstOpenAt, "opened")],
    ["uniqueClicks", standIn(state.firstClickAt, "clicked")],
  ];
  for (const [field, t] of once) if (t !== null) add(field, t);
  for (const { hour, n } of state.openHours) add("opens", hour, n);
  // Opens still undecided, each judged by the machine-open rule now (past the cap: human by rule).
  const openWindowMs = rules.machineOpenWindowMs ?? defaultMachineOpenWindowMs;
  state.undecidedOpens.forEach((t, rank) => {
    add("opens", t);
    if (rank < undecidedOpenCap && isMachineOpen(t, deliveredAt, openWindowMs)) add("machineOpens", t);
  });

  const links = new Map<string, { clicks: number; scannerClicks: number; first: number; last: number }>();
  // The send's first click that is not a scanner's (its hour, for tallied clicks): human unique clicks.
  let firstHumanClick: number | null = null;
  for (const { hour, clicks, scanner } of state.clickHours) {
    add("clicks", hour, clicks);
    if (scanner > 0) add("scannerClicks", hour, scanner);
    if (clicks > scanner) firstHumanClick = earliest(firstHumanClick, hour);
  }
  for (const { link, clicks, scanner, first, last } of state.clickLinks) links.set(link, { clicks, scannerClicks: scanner, first, last });
  const ranks = rankOfClicks(state.clicks);
  state.clicks.forEach((click, index) => {
    // Past the cap, human by rule (see undecidedClickCap), whether or not settleClicks moved it yet. A
    // reconstructed delivery (at the sent time, no later than the real one) already judges the clicks before
    // it + window; settleClicks waits for the real delivery, which may judge more of them.
    const scanner = click.uaScanner || (ranks[index]! < undecidedClickCap && isScannerClick(click, deliveredAt, rules.scannerWindowMs));
    add("clicks", click.t);
    if (scanner) add("scannerClicks", click.t);
    else firstHumanClick = earliest(firstHumanClick, click.t);
    const link = links.get(click.link) ?? { clicks: 0, scannerClicks: 0, first: click.t, last: click.t };
    link.clicks += 1;
    link.scannerClicks += scanner ? 1 : 0;
    link.first = Math.min(link.first, click.t);
    link.last = Math.max(link.last, click.t);
    links.set(click.link, link);
  });

  // Real clicks only: a reconstructed click has no user agent or time to judge it by.
  if (firstHumanClick !== null) add("humanUniqueClicks", firstHumanClick);
  // The same totals at the recipient's provider (deliverability/provider-counts.ts), in the same part.
  const provider = state.recipientProvider?.provider ?? "other";
  const parts: ContributionPart[] = [{ kind: "campaign", campaignId, provider, inc: nonZero(total) }];
  for (const [hour, counts] of [...hours].sort((a, b) => a[0] - b[0])) parts.push({ kind: "hour", campaignId, hour, inc: nonZero(counts) });
  for (const [day, counts] of [...days].sort((a, b) => a[0] - b[0])) parts.push({ kind: "day", campaignId, day, provider, inc: nonZero(counts) });
  for (const [link, value] of [...links].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    parts.push({
      kind: "link",
      campaignId,
      link,
      inc: nonZero({ clicks: value.clicks, uniqueClicks: 1, scannerClicks: value.scannerClicks }),
      firstClickAt: value.first,
      lastClickAt: value.last,
    });
  }
  return parts;
}

function nonZero<T extends Record<string, number>>(counts: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [field, value] of Object.entries(counts)) if (value !== 0) (out as Record<string, number>)[field] = value;
  return out;
}

/** Identity of the document a part goes to (within one workspace). */
export function partKey(part: ContributionPart): string {
  if (part.kind === "campaign") return `c\u0000${part.campaignId}`;
  if (part.kind === "hour") return `h\u0000${part.campaignId}\u0000${part.hour}`;
  if (part.kind === "day") return `d\u0000${part.day}`;
  return `l\u0000${part.campaignId}\u0000${part.link}`;
}

/**
 * A part with its provider's counts spelled out (`<provider>:<field>`), as documents take them: a campaign
 * part keeps its counts and gains their copies, a day part has only the copies. Parts without a `provider`
 * (deltas; links, hours) are returned as they are.
 */
export function atProviders(part: ContributionPart): ContributionPart {
  if ((part.kind !== "campaign" && part.kind !== "day") || !part.provider) return part;
  const { provider, ...rest } = part;
  const copies = providerFields(provider, part.inc);
  return { ...rest, inc: part.kind === "campaign" ? { ...part.inc, ...copies } : copies } as ContributionPart;
}

/**
 * new - old, per document and field, zero entries dropped (provider counts spelled out: `atProviders`).
 * Link first/last click times are carried as they are in `next` (they only widen: $min/$max).
 */
export function contributionDelta(old: ContributionPart[], next: ContributionPart[]): ContributionPart[] {
  const byKey = new Map<string, ContributionPart>();
  const amounts = new Map<string, Record<string, number>>();
  const accumulate = (stored: ContributionPart, sign: 1 | -1) => {
    const part = atProviders(stored);
    const key = partKey(part);
    if (!byKey.has(key) || sign === 1) byKey.set(key, part);
    const sum = amounts.get(key) ?? {};
    for (const [field, value] of Object.entries(part.inc)) sum[field] = (sum[field] ?? 0) + sign * (value ?? 0);
    amounts.set(key, sum);
  };
  for (const part of old) accumulate(part, -1);
  for (const part of next) accumulate(part, 1);
  // By key once: a send with events in many hours has many parts, and this runs on every event.
  const oldByKey = new Map(old.map((part) => [partKey(part), part]));
  const inNext = new Set(next.map(partKey));
  const delta: ContributionPart[] = [];
  for (const [key, sum] of amounts) {
    const inc = Object.fromEntries(Object.entries(sum).filter(([, value]) => value !== 0));
    const template = byKey.get(key)!;
    const changedTimes = template.kind === "link" && inNext.has(key) && !sameLinkTimes(oldByKey.get(key), template);
    if (Object.keys(inc).length === 0 && !changedTimes) continue;
    delta.push({ ...template, inc } as ContributionPart);
  }
  return delta;
}

function sameLinkTimes(before: ContributionPart | undefined, part: ContributionPart & { kind: "link" }): boolean {
  return before?.kind === "link" && before.firstClickAt === part.firstClickAt && before.lastClickAt === part.lastClickAt;
}

/** Sum of many contributions per document key: the recount used by tests and `recountCampaign`. */
export function sumContributions(contributions: ContributionPart[][]): Map<string, Record<string, number>> {
  const sums = new Map<string, Record<string, number>>();
  for (const parts of contributions) {
    for (const stored of parts) {
      const part = atProviders(stored);
      const key = partKey(part);
      const sum = sums.get(key) ?? {};
      for (const [field, value] of Object.entries(part.inc)) sum[field] = (sum[field] ?? 0) + (value ?? 0);
      sums.set(key, sum);
    }
  }
  return sums;
}

export { countFields };
