import { randomBytes } from "node:crypto";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { emailEventTypes, sampleEmailEvent } from "../../../cli/resend-samples.ts";
import { ResendEventSchema } from "../../../gen/ngsreach/events/v1/resend_event_pb.ts";
import { parseResendEvent } from "../../shared/resend-events.ts";
import { encodeEnvelope } from "./envelope-encoder.ts";

const parse = (body: unknown, i = 0) =>
  parseResendEvent({
    workspaceId: `ws_${i % 7}`,
    svixId: `msg_${randomBytes(6).toString("hex")}`,
    receivedAtMs: Date.UTC(2026, 10, 26) + i * 1234,
    rawBody: Buffer.from(typeof body === "string" ? body : JSON.stringify(body)),
  });

describe("envelope encoder", () => {
  it("writes exactly the bytes protobuf-es toBinary writes, for every email type and odd inputs", () => {
    const odd = "é✓😀 \u0000 " + "x".repeat(300);
    const bodies: unknown[] = [
      ...emailEventTypes.map((type) => sampleEmailEvent(type)),
      ...emailEventTypes.map((type, i) =>
        sampleEmailEvent(type, {
          to: ["", `a${i}@x.example`, odd],
          subject: odd.repeat(i + 1),
          tags: { campaign_id: "c", [odd.slice(0, 20)]: odd, empty: "" },
          tagsAsArray: i % 2 === 0,
          createdAt: new Date(Date.UTC(1960, 0, 1) + i),
          bounce: { type: "Permanent", subType: "General", message: odd.repeat(60), diagnosticCode: "550" },
          click: { link: `https://e.example/${odd}`, timestamp: new Date(0) },
          failedReason: odd,
          suppressed: { type: "", message: odd },
        }),
      ),
      { type: "contact.created", created_at: "2026-11-26T10:00:00.123456+02:00", data: { id: "c1" } },
      { type: "email.delivered", data: "not an object" },
      { type: "x".repeat(400) },
      { type: "email.opened", created_at: "bad", data: { to: "single@x.example", tags: [{ name: "a", value: 1 }, { name: "", value: "z" }] } },
    ];
    for (let i = 0; i < 200; i++) {
      bodies.push(sampleEmailEvent(emailEventTypes[i % emailEventTypes.length]!, {
        emailId: randomBytes(i % 40).toString("base64"),
        tags: Object.fromEntries(Array.from({ length: i % 12 }, (_, t) => [`t${t}`, randomBytes(i % 50).toString("hex")])),
        createdAt: new Date(Date.now() - i * 99_999_999),
      }));
    }
    bodies.forEach((body, i) => {
      const event = parse(body, i);
      const ours = encodeEnvelope(event);
      expect(Buffer.from(ours).equals(Buffer.from(toBinary(ResendEventSchema, event))), `body ${i}`).toBe(true);
      expect(fromBinary(ResendEventSchema, ours)).toEqual(event);
    });
  });

  it("handles bodies large enough to need multi-byte lengths and a grown buffer", () => {
    const event = parse(sampleEmailEvent("email.bounced", { subject: "s".repeat(200_000), bounce: { type: "Transient", subType: "General", message: "m".repeat(70_000) } }));
    expect(Buffer.from(encodeEnvelope(event)).equals(Buffer.from(toBinary(ResendEventSchema, event)))).toBe(true);
  });
});
