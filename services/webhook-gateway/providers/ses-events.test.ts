import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadProviderBodyError, type ProviderEvent } from "./provider-adapter.ts";
import { createSesAdapter, type SesCredential } from "./ses.ts";
import { maxRecipients, maxTags } from "./ses-events.ts";
import type { ProviderAdapter } from "./provider-adapter.ts";
import {
  createTestSigner,
  notificationEnvelope,
  signEnvelope,
  snsRequest,
  startCertificateServer,
  testTopicArn,
  type CertificateServer,
  type TestSigner,
} from "../../../test/support/sns-test-kit.ts";

const fixture = (path: string): Record<string, any> =>
  JSON.parse(readFileSync(new URL(`../../../test/fixtures/providers/ses/${path}`, import.meta.url), "utf8"));

let signer: TestSigner;
let server: CertificateServer;
let adapter: ProviderAdapter<SesCredential>;
let credentials: SesCredential[];

beforeAll(async () => {
  signer = createTestSigner();
  server = await startCertificateServer(signer.certificatePem);
  adapter = createSesAdapter({ extraUrlPrefix: server.prefix });
  credentials = [adapter.parseCredential(testTopicArn)];
});
afterAll(() => server.close());

/** Signs the SES record into an SNS notification, verifies it as the gateway will, and reads it. */
async function signedAndRead(message: unknown, messageId = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"): Promise<() => ProviderEvent> {
  const envelope = signEnvelope(notificationEnvelope(message, server, { MessageId: messageId }), signer.privateKey, "2");
  const request = snsRequest(envelope);
  expect(await adapter.verify(request, credentials)).toEqual({ ok: true });
  return () => {
    const contents = adapter.contents(request.body);
    if (contents.kind !== "events") throw new Error(`expected events, got ${contents.kind}`);
    expect(contents.events).toHaveLength(1);
    return contents.events[0]!;
  };
}
const read = async (message: unknown, messageId?: string) => (await signedAndRead(message, messageId))();

const exampleMessageId = "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000";
const customTags = { myCustomTag1: "myCustomTagValue1", myCustomTag2: "myCustomTagValue2" };
const customTagsOpenClick = { myCustomTag1: "myCustomValue1", myCustomTag2: "myCustomValue2" };

// What AWS's documented examples say, written out by hand from the fixture files.
const documented: [string, Partial<ProviderEvent>][] = [
  [
    "event/bounce.json",
    {
      kind: "bounced",
      providerType: "Bounce",
      messageId: exampleMessageId,
      eventTime: new Date("2017-08-05T00:41:02.669Z"),
      recipients: ["recipient@example.com"],
      from: "Sender Name <sender@example.com>",
      subject: "Message sent from Amazon SES",
      tags: {},
      bounce: {
        severity: "hard",
        type: "Permanent",
        subType: "General",
        providerType: "Permanent",
        diagnosticCode: "smtp; 550 5.1.1 user unknown",
        smtpStatus: "5.1.1",
        message: "",
      },
    },
  ],
  ["event/complaint.json", { kind: "complained", recipients: ["recipient@example.com"], eventTime: new Date("2017-08-05T00:41:02.669Z"), reason: "abuse" }],
  ["event/delivery.json", { kind: "delivered", recipients: ["recipient@example.com"], eventTime: new Date("2016-10-19T23:21:04.133Z"), tags: customTags, from: "sender@example.com" }],
  ["event/send.json", { kind: "sent", providerType: "Send", recipients: ["recipient@example.com"], eventTime: new Date("2016-10-14T05:02:16.645Z"), tags: customTags }],
  // The guide's Reject example really has the sender as its destination.
  ["event/reject.json", { kind: "failed", providerType: "Reject", recipients: ["sender@example.com"], reason: "Bad content", eventTime: new Date("2016-10-14T17:38:15.211Z") }],
  [
    "event/open.json",
    {
      kind: "opened",
      eventTime: new Date("2017-08-09T22:00:19.652Z"),
      open: { ipAddress: "192.0.2.1", userAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 10_3_3 like Mac OS X) AppleWebKit/603.3.8 (KHTML, like Gecko) Mobile/14G60" },
      tags: customTagsOpenClick,
      recipients: ["recipient@example.com"],
    },
  ],
  [
    "event/click.json",
    {
      kind: "clicked",
      eventTime: new Date("2017-08-09T23:51:25.570Z"),
      click: {
        link: "http://docs.aws.amazon.com/ses/latest/DeveloperGuide/send-email-smtp.html",
        ipAddress: "192.0.2.1",
        userAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/60.0.3112.90 Safari/537.36",
      },
      tags: customTagsOpenClick,
    },
  ],
  [
    "event/rendering-failure.json",
    {
      kind: "failed",
      providerType: "Rendering Failure",
      reason: "Attribute 'attributeName' is not present in the rendering data.",
      eventTime: new Date("2018-01-22T18:43:06.197Z"),
      subject: "",
      from: "sender@example.com",
    },
  ],
  ["event/delivery-delay.json", { kind: "delivery_delayed", providerType: "DeliveryDelay", reason: "TransientCommunicationFailure", eventTime: new Date("2020-06-16T00:25:40.095Z"), recipients: ["recipient@example.com"] }],
  [
    "event/subscription.json",
    { kind: "unsubscribed", providerType: "Subscription", reason: "UnsubscribeHeader", eventTime: new Date("2022-01-12T01:00:17.910Z"), messageId: "EXAMPLEe4bccb684-777bc8de-afa7-4970-92b0-f515137b1497-000000" },
  ],
  [
    "notification/bounce-with-dsn.json",
    {
      kind: "bounced",
      messageId: "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
      recipients: ["jane@example.com"],
      eventTime: new Date("2016-01-27T14:59:38.237Z"),
      from: "John Doe <john@example.com>",
      subject: "Hello",
      tags: {},
      bounce: { severity: "hard", type: "Permanent", subType: "General", providerType: "Permanent", diagnosticCode: "smtp; 550 5.1.1 <jane@example.com>... User", smtpStatus: "5.1.1", message: "" },
    },
  ],
  [
    "notification/bounce-without-dsn.json",
    {
      kind: "bounced",
      recipients: ["jane@example.com", "richard@example.com"],
      bounce: { severity: "hard", type: "Permanent", subType: "General", providerType: "Permanent", diagnosticCode: "", smtpStatus: "", message: "" },
    },
  ],
  [
    "notification/bounce-composed.json",
    {
      kind: "bounced",
      recipients: ["recipient1@example.com", "recipient2@example.com"],
      eventTime: new Date("2012-05-25T14:59:38.605Z"),
      bounce: { severity: "hard", type: "Permanent", subType: "General", providerType: "Permanent", diagnosticCode: "smtp; 550 user unknown", smtpStatus: "5.0.0", message: "" },
    },
  ],
  ["notification/complaint-with-feedback.json", { kind: "complained", recipients: ["richard@example.com"], reason: "abuse", messageId: "000001378603177f-7a5433e7-8edb-42ae-af10-f0181f34d6ee-000000" }],
  ["notification/complaint-without-feedback.json", { kind: "complained", recipients: ["richard@example.com"], eventTime: new Date("2016-01-27T14:59:38.237Z") }],
  ["notification/delivery.json", { kind: "delivered", providerType: "Delivery", recipients: ["jane@example.com"], messageId: "0000014644fe5ef6-9a483358-9170-4cb4-a269-f5dcdf415321-000000" }],
];

describe("SES notifications through SNS", () => {
  it.each(documented)("maps AWS's example %s to its kind with SES's own details", async (path, expected) => {
    const event = await read(fixture(path), "5e1e5e1e-0000-4000-8000-000000000001");
    expect(event).toMatchObject({ provider: "ses", eventId: "5e1e5e1e-0000-4000-8000-000000000001", ...expected });
  });

  it("covers every SES event type in both shapes with a fixture", () => {
    const types = documented.map(([path]) => fixture(path)).map((record) => `${record.eventType ? "event" : "notification"}:${record.eventType ?? record.notificationType}`);
    expect(new Set(types)).toEqual(
      new Set([
        ...["Bounce", "Complaint", "Delivery", "Send", "Reject", "Open", "Click", "Rendering Failure", "DeliveryDelay", "Subscription"].map((t) => `event:${t}`),
        ...["Bounce", "Complaint", "Delivery"].map((t) => `notification:${t}`),
      ]),
    );
  });

  it("names exactly the bounced recipients of a bounce with three, each once, and not the rest of the destination", async () => {
    const record = fixture("notification/bounce-without-dsn.json");
    record.mail.destination = ["jane@example.com", "mary@example.com", "richard@example.com", "zoe@example.com"];
    record.bounce.bouncedRecipients = ["jane@example.com", "mary@example.com", "richard@example.com", "mary@example.com"].map((emailAddress) => ({ emailAddress }));
    expect((await read(record)).recipients).toEqual(["jane@example.com", "mary@example.com", "richard@example.com"]);
  });

  it("names exactly the complained recipients, not the destination", async () => {
    const record = fixture("notification/complaint-with-feedback.json");
    expect(record.mail.destination).toHaveLength(3);
    expect((await read(record)).recipients).toEqual(["richard@example.com"]);
  });

  it("names the recipients a delivery or delay is about, when SES says, rather than the whole destination", async () => {
    const record = fixture("event/delivery.json");
    record.mail.destination = ["a@example.com", "recipient@example.com", "b@example.com"];
    expect((await read(record)).recipients).toEqual(["recipient@example.com"]);
    const delay = fixture("event/delivery-delay.json");
    delay.mail.destination = ["a@example.com", "recipient@example.com"];
    expect((await read(delay)).recipients).toEqual(["recipient@example.com"]);
    delete delay.deliveryDelay.delayedRecipients;
    expect((await read(delay)).recipients).toEqual(["a@example.com", "recipient@example.com"]);
  });

  it("maps every documented bounce type and subtype to hard or soft, keeping SES's words", async () => {
    const table: [string, string, "hard" | "soft"][] = [
      ["Undetermined", "Undetermined", "soft"],
      ["Permanent", "General", "hard"],
      ["Permanent", "NoEmail", "hard"],
      ["Permanent", "Suppressed", "hard"],
      ["Permanent", "OnAccountSuppressionList", "hard"],
      ["Transient", "General", "soft"],
      ["Transient", "MailboxFull", "soft"],
      ["Transient", "MessageTooLarge", "soft"],
      ["Transient", "ContentRejected", "soft"],
      ["Transient", "AttachmentRejected", "soft"],
    ];
    for (const [bounceType, bounceSubType, severity] of table) {
      const record = fixture("event/bounce.json");
      Object.assign(record.bounce, { bounceType, bounceSubType });
      expect((await read(record)).bounce, `${bounceType}/${bounceSubType}`).toMatchObject({ severity, type: bounceType, subType: bounceSubType, providerType: bounceType });
    }
    const record = fixture("event/bounce.json");
    record.bounce.bounceType = "SomethingNew";
    expect((await read(record)).bounce).toMatchObject({ severity: "soft", type: "Undetermined", providerType: "SomethingNew" });
  });

  it("records a not-spam complaint (a reporter's correction) without acting on it", async () => {
    const record = fixture("event/complaint.json");
    record.complaint.complaintFeedbackType = "not-spam";
    expect(await read(record)).toMatchObject({ kind: undefined, providerType: "Complaint", reason: "not-spam", recipients: ["recipient@example.com"] });
  });

  it("treats a Subscription event that only opts in as no unsubscribe, and one that opts out of any topic as one", async () => {
    const optIn = fixture("event/subscription.json");
    optIn.subscription.newTopicPreferences = { unsubscribeAll: false, topicSubscriptionStatus: [{ topicName: "ExampleTopicName", subscriptionStatus: "OptIn" }] };
    expect((await read(optIn)).kind).toBeUndefined();
    const topicOptOut = fixture("event/subscription.json");
    topicOptOut.subscription.newTopicPreferences.unsubscribeAll = false;
    expect((await read(topicOptOut)).kind).toBe("unsubscribed");
    const noPreferences = fixture("event/subscription.json");
    delete noPreferences.subscription.newTopicPreferences;
    expect((await read(noPreferences)).kind).toBe("unsubscribed");
  });

  it("returns a type SES may add later with no kind and its own name, keeping what it can read", async () => {
    const future = fixture("event/delivery.json");
    future.eventType = "DeliveryReceipt";
    expect(await read(future)).toMatchObject({ kind: undefined, providerType: "DeliveryReceipt", messageId: exampleMessageId, recipients: ["recipient@example.com"] });
    // The message SES sends to a topic when notifications are first pointed at it has no mail object.
    const setup = { notificationType: "AmazonSnsSubscriptionSucceeded", message: "You have successfully subscribed your Amazon SNS topic to receive notifications." };
    expect(await read(setup)).toMatchObject({ kind: undefined, providerType: "AmazonSnsSubscriptionSucceeded", messageId: "", recipients: [], eventTime: undefined });
  });

  it("reads type and tag names as data: an eventType named constructor is unknown, a tag named __proto__ is a tag", async () => {
    expect(await read({ eventType: "constructor" })).toMatchObject({ kind: undefined, providerType: "constructor", messageId: "" });
    const record = fixture("event/delivery.json");
    record.mail.tags = JSON.parse('{"__proto__": ["p"], "campaign_id": ["c-1"]}');
    const event = await read(record);
    expect(Object.keys(event.tags)).toEqual(["__proto__", "campaign_id"]);
    expect(Object.getPrototypeOf(event.tags)).toBe(Object.prototype);
  });

  it("takes the first value of each custom tag and leaves out SES's own ses: tags (one of them is an IP address)", async () => {
    const record = fixture("event/delivery.json");
    record.mail.tags.campaign_id = ["c-1", "ignored"];
    const event = await read(record);
    expect(event.tags).toEqual({ ...customTags, campaign_id: "c-1" });
  });

  it("falls back to the mail's time when the event's own time is absent, and to none when neither parses", async () => {
    const record = fixture("event/open.json");
    delete record.open.timestamp;
    expect((await read(record)).eventTime).toEqual(new Date("2017-08-09T21:59:49.927Z"));
    const composed = fixture("notification/bounce-composed.json");
    delete composed.bounce.timestamp;
    expect((await read(composed)).eventTime).toBeUndefined();
  });

  it("uses the SNS MessageId, which SNS keeps on every retry, as the event id", async () => {
    const record = fixture("event/delivery.json");
    expect((await read(record, "aaaaaaaa-0000-4000-8000-000000000001")).eventId).toBe("aaaaaaaa-0000-4000-8000-000000000001");
    expect((await read(record, "aaaaaaaa-0000-4000-8000-000000000002")).eventId).toBe("aaaaaaaa-0000-4000-8000-000000000002");
  });
});

describe("SES notifications that verify but are malformed", () => {
  const withBounce = (change: (record: Record<string, any>) => void) => {
    const record = fixture("notification/bounce-with-dsn.json");
    change(record);
    return record;
  };
  const cases: [string, unknown, RegExp][] = [
    ["a Message that is not JSON (a test message published from the console)", "Hello world!", /not JSON/],
    ["a Message that is a JSON list", "[1, 2]", /not a JSON object/],
    ["a record with neither eventType nor notificationType", { mail: { messageId: "m" } }, /neither eventType nor notificationType/],
    ["a type name over 64 characters", { eventType: "T".repeat(65), mail: { messageId: "m" } }, /type is longer than 64 characters/],
    ["an unknown type with a mail.messageId that is not a string", { eventType: "Later", mail: { messageId: 5 } }, /unknown type needs mail\.messageId/],
    ["a bounce without its bounce object", withBounce((r) => delete r.bounce), /needs a bounce object/],
    ["a bounce naming nobody", withBounce((r) => (r.bounce.bouncedRecipients = [])), /bounce\.bouncedRecipients, a non-empty list/],
    ["a bounced recipient without an address", withBounce((r) => (r.bounce.bouncedRecipients = [{ status: "5.1.1" }])), /emailAddress is not an address/],
    ["a complaint without recipients", { ...fixture("event/complaint.json"), complaint: {} }, /complainedRecipients/],
    ["a known type without mail.messageId", withBounce((r) => delete r.mail.messageId), /needs mail\.messageId/],
    ["a mail.messageId over 256 characters", withBounce((r) => (r.mail.messageId = "m".repeat(257))), /1 to 256 characters/],
    ["a destination that is not a list", withBounce((r) => (r.mail.destination = "jane@example.com")), /mail\.destination is not a list/],
    ["a mail that is not an object", withBounce((r) => (r.mail = "x")), /needs a mail object/],
    [
      `a bounce naming more than ${maxRecipients} recipients`,
      withBounce((r) => (r.bounce.bouncedRecipients = Array.from({ length: maxRecipients + 1 }, (_, i) => ({ emailAddress: `r${i}@example.com` })))),
      /more than 1000 recipients/,
    ],
    [`more than ${maxTags} custom tags`, withBounce((r) => (r.mail.tags = Object.fromEntries(Array.from({ length: maxTags + 1 }, (_, i) => [`t${i}`, ["v"]])))), /more than 50 tags/],
    ["a tag value over 256 characters", withBounce((r) => (r.mail.tags = { campaign_id: ["c".repeat(257)] })), /longer than 256/],
    ["a Message over 256 KiB", withBounce((r) => (r.mail.headers = [{ name: "X-Pad", value: "p".repeat(256 * 1024) }])), /larger than 262144 bytes/],
  ];

  it.each(cases)("throws BadProviderBodyError for %s, naming no address", async (_name, message, problem) => {
    const contents = await signedAndRead(message);
    let thrown: unknown;
    try {
      contents();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(BadProviderBodyError);
    expect((thrown as Error).message).toMatch(problem);
    expect((thrown as Error).message).not.toContain("@");
  });
});
