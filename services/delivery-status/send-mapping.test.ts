import { describe, expect, it } from "vitest";
import { Provider as ApiProvider } from "../../gen/ngsreach/events/v1/provider_pb.ts";
import { noneRetired, projectSend } from "./send-projection.ts";
import { toSendEventMessage, toSendMessage } from "./send-mapping.ts";
import type { StoredSend, TimelineEntry } from "./sends-repository.ts";

const entry = (extra: Partial<TimelineEntry>): TimelineEntry => ({
  workspaceId: "ws",
  emailId: "sendgrid:abc",
  svixId: "sendgrid:evt",
  type: "email.bounced",
  eventAtUs: 1_767_000_000_000_000,
  receivedAtUs: 1_767_000_001_000_000,
  ...extra,
});
const stored = (emailId: string): StoredSend => ({
  workspaceId: "ws",
  emailId,
  version: 1,
  facts: [],
  retired: noneRetired,
  timelinePages: 0,
  state: projectSend(undefined, []),
  updatedAtMs: 1_767_000_000_000,
  pendingSendRecorded: false,
});

describe("the API view of sends and timeline entries", () => {
  it("shows a bounce entry's provider type and SMTP status, and an entry stored before providers with them empty", () => {
    const bounce = { type: "Permanent", subType: "General", message: "gone", diagnosticCode: "550 5.1.1 no such user" };
    const fresh = toSendEventMessage(entry({ providerType: "bounce", bounce: { ...bounce, providerType: "blocked", smtpStatus: "5.1.1" } }));
    expect(fresh.providerType).toBe("bounce");
    expect(fresh.detail).toMatchObject({ case: "bounce", value: { ...bounce, providerType: "blocked", smtpStatus: "5.1.1" } });
    const old = toSendEventMessage(entry({ emailId: "abc", svixId: "msg_1", bounce }));
    expect(old.providerType).toBe("");
    expect(old.detail).toMatchObject({ case: "bounce", value: { ...bounce, providerType: "", smtpStatus: "" } });
  });

  it("names every send's provider from its email id, Resend for an id without a provider prefix", () => {
    expect(toSendMessage(stored("sendgrid:abc")).provider).toBe(ApiProvider.SENDGRID);
    expect(toSendMessage(stored("mailgun:id@mg.example")).provider).toBe(ApiProvider.MAILGUN);
    expect(toSendMessage(stored("4ef9a417-02e9-4d39-ad75-9611e0fcc33c")).provider).toBe(ApiProvider.RESEND);
    expect(toSendMessage(stored("unknown:abc")).provider).toBe(ApiProvider.RESEND);
  });
});
