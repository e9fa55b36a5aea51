/**
 * Personal data planted in a workload so a test can look for it in the services' logs (issue 17 item 5):
 * Resend webhooks of every type for a few sends, whose addresses, subjects, senders, click IPs (v4 and
 * v6), user agents, links and bounce messages are unique to one run (so a hit can only be a leak, never a
 * coincidence), what Resend's API says about two more sends (for a reconciliation run), and the
 * personal data the shared samples (cli/resend-samples.ts, cli/provider-samples.ts) put in the mixed load.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mailgunEventData, sendgridEvent, sesMessage } from "../../cli/provider-samples.ts";
import { sampleEmailEvent, type EmailEventType, type SampleOptions } from "../../cli/resend-samples.ts";
import { newMessageId } from "../../cli/sign.ts";
import type { StandInEmail } from "./resend-api-stand-in.ts";

/** One piece of personal data and what it is (the report of a leak names the kind, not only the text). */
export interface PersonalDatum {
  kind: "address" | "ip" | "user agent" | "subject" | "link" | "body" | "note";
  value: string;
}

/** A send RecordSend registers. */
export interface ProbeSend {
  emailId: string;
  subscriberId: string;
  recipient: string;
}

/** A Resend webhook of a probe send: its svix id and body. */
export interface ProbeWebhook {
  svixId: string;
  emailId: string;
  body: string;
}

export interface Probes {
  campaignId: string;
  /** Sends registered with RecordSend whose webhooks arrive. */
  sends: ProbeSend[];
  /** Registered sends with no webhook: a reconciliation run learns their fate from `standIn`. */
  lostSends: ProbeSend[];
  /** What Resend's API says about `lostSends`. */
  standIn: StandInEmail[];
  webhooks: ProbeWebhook[];
  /** An email of two recipients, one written with a display name, and no send record: suppression keeps it pending. */
  unattributed: ProbeWebhook;
  /** Addresses only the RPCs carry: a manual suppression, and recipients every check refuses. */
  manualAddress: string;
  malformedAddress: string;
  personal: PersonalDatum[];
}

const minute = 60_000;

/** Builds one run's probes; every address is in mixed case, as people type them. */
export function buildProbes(now = Date.now()): Probes {
  const tag = randomBytes(4).toString("hex");
  const address = (who: string) => `Probe.${who}-${tag}@Mail-${tag}.Example.TEST`;
  const campaignId = `privacy-${tag}`;
  const send = (who: string, i: number): ProbeSend => ({ emailId: randomUUID(), subscriberId: `sub-privacy-${i}-${tag}`, recipient: address(who) });
  const [ada, bea, cyd, dov, eli] = ["Ada", "Bea", "Cyd", "Dov", "Eli"].map(send) as [ProbeSend, ProbeSend, ProbeSend, ProbeSend, ProbeSend];
  const lostSends = ["Fay", "Gus"].map((who, i) => send(who, 10 + i));
  const sender = `Probe Letters <letters-${tag}@Sender-${tag}.Example.TEST>`;
  const subject = (about: string) => `Your ${about} order ${tag}, Ada`;
  const ipv4 = `198.51.100.${1 + (parseInt(tag.slice(0, 2), 16) % 250)}`;
  const ipv6 = `2001:db8:${tag.slice(0, 4)}:${tag.slice(4)}::17`;
  const userAgent = `Mozilla/5.0 (X11; Linux x86_64; probe-${tag}) Gecko/20100101 Firefox/133.0`;
  const otherAgent = `Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X; probe-${tag}) Mobile/15E148`;
  const link = `https://shop.example/track?who=${ada.recipient}&ref=${tag}`;
  const hardBounce = `550 5.1.1 <${bea.recipient}>: Recipient address rejected: User unknown in virtual mailbox table`;
  const softBounce = `452 4.2.2 <${eli.recipient}>: mailbox full`;
  const suppressedMessage = `Resend has suppressed sending to ${dov.recipient} because it is on the account-level suppression list.`;
  const lostBounce = `550 5.1.1 The email account ${lostSends[1]!.recipient} does not exist`;

  const base = now - 2 * 3600_000;
  const webhooks: ProbeWebhook[] = [];
  const hook = (of: ProbeSend | { emailId: string; to: string[] }, type: EmailEventType, minutes: number, extra: SampleOptions = {}) => {
    const to = "recipient" in of ? [of.recipient] : of.to;
    const options: SampleOptions = { emailId: of.emailId, to, from: sender, subject: subject(type), tags: { campaign_id: campaignId }, createdAt: new Date(base + minutes * minute), ...extra };
    return { svixId: newMessageId(), emailId: of.emailId, body: JSON.stringify(sampleEmailEvent(type, options)) };
  };
  const click = (ipAddress: string, agent: string, minutes: number) => ({ link, ipAddress, userAgent: agent, timestamp: new Date(base + minutes * minute) });
  webhooks.push(
    hook(ada, "email.sent", 0),
    hook(ada, "email.delivery_delayed", 1),
    hook(ada, "email.delivered", 2),
    hook(ada, "email.opened", 3),
    hook(ada, "email.clicked", 4, { click: click(ipv4, userAgent, 4) }),
    hook(ada, "email.clicked", 5, { click: click(ipv6, otherAgent, 5) }),
    hook(ada, "email.complained", 6),
    hook(bea, "email.sent", 0),
    hook(bea, "email.bounced", 1, { bounce: { type: "Permanent", subType: "General", message: hardBounce, diagnosticCode: `smtp; ${hardBounce}` } }),
    hook(cyd, "email.sent", 0),
    hook(cyd, "email.failed", 1, { failedReason: `invalid recipient ${cyd.recipient}` }),
    hook(dov, "email.suppressed", 0, { suppressed: { type: "OnAccountSuppressionList", message: suppressedMessage } }),
    hook(eli, "email.delivered", 0),
    hook(eli, "email.bounced", 1, { bounce: { type: "Transient", subType: "MailboxFull", message: softBounce } }),
  );
  const unattributedTo = [address("Hal"), `"Ida Probe" <${address("Ida")}>`];
  // A type suppression acts on (it ignores opens), so it is kept pending and named at debug.
  const unattributed = hook({ emailId: randomUUID(), to: unattributedTo }, "email.delivered", 1);

  const standIn: StandInEmail[] = [
    { id: lostSends[0]!.emailId, to: [lostSends[0]!.recipient], created_at: new Date(base).toISOString(), last_event: "clicked", subject: subject("lost") },
    {
      id: lostSends[1]!.emailId,
      to: [lostSends[1]!.recipient],
      created_at: new Date(base + 1000).toISOString(),
      last_event: "bounced",
      bounce: { type: "Permanent", subType: "General", message: lostBounce },
      subject: subject("lost"),
    },
  ];
  const manualAddress = address("Jo");
  const malformedAddress = `Probe Kim-${tag} @Mail-${tag}.Example.TEST`;

  const addresses = [...[ada, bea, cyd, dov, eli, ...lostSends].map((s) => s.recipient), ...unattributedTo.map((to) => to.replace(/^.*</, "").replace(/>$/, "")), manualAddress, sender.replace(/^.*<|>$/g, "")];
  const personal: PersonalDatum[] = [
    ...addresses.map((value) => ({ kind: "address" as const, value })),
    { kind: "address", value: malformedAddress },
    // Searched by network (/24, /48): a truncated address in a line (issue 17 item 4) still places the person.
    { kind: "ip", value: ipv4.replace(/\d+$/, "") },
    { kind: "ip", value: `${ipv6.split(":").slice(0, 3).join(":")}:` },
    { kind: "user agent", value: userAgent },
    { kind: "user agent", value: otherAgent },
    { kind: "subject", value: `order ${tag}` },
    { kind: "link", value: link },
    { kind: "body", value: hardBounce },
    { kind: "body", value: softBounce },
    { kind: "body", value: suppressedMessage },
    { kind: "body", value: lostBounce },
    ...sharedSamplePersonalData(),
  ];
  return { campaignId, sends: [ada, bea, cyd, dov, eli], lostSends, standIn, webhooks, unattributed, manualAddress, malformedAddress, personal };
}

/**
 * What the shared samples put in every mixed load besides its recipients (test/faults/workload.ts lists
 * those): Resend's and the other providers' click IPs and user agents, subjects and senders, read from
 * the samples themselves so a change there cannot slip past the search.
 */
export function sharedSamplePersonalData(): PersonalDatum[] {
  const sample = { messageId: "m", to: ["x@example.test"] };
  const resendClick = (sampleEmailEvent("email.clicked").data as { click: { ipAddress: string; userAgent: string } }).click;
  const resend = sampleEmailEvent("email.sent").data as { subject: string; from: string };
  const sendgrid = sendgridEvent("clicked", sample);
  const mailgun = mailgunEventData("clicked", sample) as { ip: string; "client-info": { "user-agent": string }; message: { headers: { subject: string; from: string } } };
  const ses = sesMessage("clicked", sample) as { mail: { source: string; commonHeaders: { subject: string } } };
  const values: PersonalDatum[] = [
    { kind: "ip", value: resendClick.ipAddress },
    { kind: "user agent", value: resendClick.userAgent },
    { kind: "ip", value: String(sendgrid.ip) },
    { kind: "user agent", value: String(sendgrid.useragent) },
    { kind: "ip", value: mailgun.ip },
    { kind: "user agent", value: mailgun["client-info"]["user-agent"] },
    { kind: "subject", value: resend.subject },
    { kind: "subject", value: mailgun.message.headers.subject },
    { kind: "subject", value: ses.mail.commonHeaders.subject },
    { kind: "address", value: resend.from.replace(/^.*<|>$/g, "") },
    { kind: "address", value: mailgun.message.headers.from },
    { kind: "address", value: ses.mail.source },
  ];
  const seen = new Set<string>();
  return values.filter((datum) => !seen.has(datum.value) && seen.add(datum.value));
}

/** A leak: where a piece of personal data appeared, with the line around it. */
export interface Leak {
  process: string;
  datum: PersonalDatum;
  line: string;
}

/** Every occurrence of any datum in any output, in any letter case (a lower-cased address is the same person). */
export function findLeaks(outputs: readonly { label: string; text: string }[], personal: readonly PersonalDatum[]): Leak[] {
  const leaks: Leak[] = [];
  for (const { label, text } of outputs) {
    const lines = text.split("\n");
    const folded = lines.map((line) => line.toLowerCase());
    for (const datum of personal) {
      const needle = datum.value.toLowerCase();
      folded.forEach((line, i) => {
        if (line.includes(needle)) leaks.push({ process: label, datum, line: lines[i]!.slice(0, 500) });
      });
    }
  }
  return leaks;
}
