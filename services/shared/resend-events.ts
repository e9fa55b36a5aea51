/**
 * Resend's webhook vocabulary, in one place: turning a verified body into the
 * typed envelope (gateway), reading the envelope back (consumers), the
 * JetStream subject of an event, and how Resend's bounce types classify.
 *
 * Parsing is lenient on purpose: once the signature is verified, a body that
 * is JSON with a string `type` is stored whatever else it holds (a 4xx on a
 * valid event makes Resend disable the endpoint). Consumers decide what they
 * can apply.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  EmailEventDataSchema,
  ResendEventSchema,
  type EmailEventData,
  type ResendEvent,
} from "../../gen/ngsreach/events/v1/resend_event_pb.ts";
import { PoisonMessageError } from "./errors.ts";

export const envelopeSchemaVersion = 1;

/** The verified body is not JSON, or has no string `type`. */
export class BadEventBodyError extends Error {
  constructor(problem: string) {
    super(problem);
    this.name = "BadEventBodyError";
  }
}

/** `resend.events.<workspaceId>.<type>`, the type's characters outside [a-z0-9_.] replaced, at most 64. */
export function eventSubject(workspaceId: string, type: string): string {
  const safe = type
    .toLowerCase()
    .replace(/[^a-z0-9_.]/g, "_")
    .replace(/\.{2,}/g, ".")
    .replace(/^\.|\.$/g, "_")
    .slice(0, 64);
  return `resend.events.${workspaceId}.${safe || "_"}`;
}

/** The JetStream message id: one per (workspace, svix-id). */
export function eventMessageId(workspaceId: string, svixId: string): string {
  return `${workspaceId}:${svixId}`;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const text = (value: unknown): string => (typeof value === "string" ? value : "");

const timestampPattern = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/** Parses `...Z` / `...+00:00` timestamps with up to 9 fractional digits, keeping microseconds. */
export function parseResendTime(value: unknown): Timestamp | undefined {
  if (typeof value !== "string") return undefined;
  const match = timestampPattern.exec(value.trim());
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s, fraction = "", zone = "Z"] = match;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (Number.isNaN(ms)) return undefined;
  if (zone.toUpperCase() !== "Z") {
    const sign = zone.startsWith("-") ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || "0")) * 60_000;
  }
  const timestamp = timestampFromMs(ms);
  timestamp.nanos = Number(fraction.padEnd(9, "0"));
  return timestamp;
}

/** Tags come as an object `{name: value}` (documented) or an array of `{name, value}` (seen in the wild). */
export function parseTags(value: unknown): Record<string, string> {
  const tags: Record<string, string> = {};
  const put = (name: unknown, tagValue: unknown) => {
    if (typeof name !== "string" || name === "") return;
    if (typeof tagValue === "string" || typeof tagValue === "number" || typeof tagValue === "boolean") {
      tags[name.slice(0, 256)] = String(tagValue).slice(0, 256);
    }
  };
  if (Array.isArray(value)) for (const tag of value) if (isObject(tag)) put(tag.name, tag.value);
  if (isObject(value)) for (const [name, tagValue] of Object.entries(value)) put(name, tagValue);
  return tags;
}

function parseEmailData(type: string, data: Record<string, unknown>): EmailEventData {
  const email = create(EmailEventDataSchema, {
    emailId: text(data.email_id),
    createdAt: parseResendTime(data.created_at),
    from: text(data.from),
    to: (Array.isArray(data.to) ? data.to : typeof data.to === "string" ? [data.to] : []).filter(
      (address): address is string => typeof address === "string",
    ),
    subject: text(data.subject),
    broadcastId: text(data.broadcast_id),
    templateId: text(data.template_id),
    messageId: text(data.message_id),
    tags: parseTags(data.tags),
  });
  const bounce = data.bounce, click = data.click, failed = data.failed, suppressed = data.suppressed;
  if (type === "email.bounced" && isObject(bounce)) {
    email.detail = {
      case: "bounce",
      value: {
        $typeName: "ngsreach.events.v1.Bounce",
        type: text(bounce.type),
        subType: text(bounce.subType ?? bounce.sub_type),
        message: text(bounce.message),
        diagnosticCode: text(bounce.diagnosticCode ?? bounce.diagnostic_code),
        providerType: "",
        smtpStatus: "",
      },
    };
  } else if (type === "email.clicked" && isObject(click)) {
    email.detail = {
      case: "click",
      value: {
        $typeName: "ngsreach.events.v1.Click",
        link: text(click.link),
        ipAddress: text(click.ipAddress ?? click.ip_address),
        userAgent: text(click.userAgent ?? click.user_agent),
        timestamp: parseResendTime(click.timestamp),
      },
    };
  } else if (type === "email.failed" && isObject(failed)) {
    email.detail = { case: "failed", value: { $typeName: "ngsreach.events.v1.Failure", reason: text(failed.reason) } };
  } else if (type === "email.suppressed" && isObject(suppressed)) {
    email.detail = {
      case: "suppressed",
      value: {
        $typeName: "ngsreach.events.v1.ResendSuppression",
        type: text(suppressed.type),
        message: text(suppressed.message),
      },
    };
  }
  return email;
}

export interface ParseInput {
  workspaceId: string;
  svixId: string;
  receivedAtMs: number;
  rawBody: Uint8Array;
}

/** Builds the envelope from a verified body; throws BadEventBodyError for non-JSON or a missing `type`. */
export function parseResendEvent(input: ParseInput): ResendEvent {
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(input.rawBody.buffer, input.rawBody.byteOffset, input.rawBody.byteLength).toString("utf8"));
  } catch {
    throw new BadEventBodyError("body is not JSON");
  }
  if (!isObject(body) || typeof body.type !== "string" || body.type === "") {
    throw new BadEventBodyError("JSON body has no string `type`");
  }
  const type = body.type.slice(0, 256);
  const received = timestampFromMs(input.receivedAtMs);
  return create(ResendEventSchema, {
    schemaVersion: envelopeSchemaVersion,
    workspaceId: input.workspaceId,
    svixId: input.svixId,
    type,
    eventTime: parseResendTime(body.created_at) ?? received,
    receivedTime: received,
    rawBody: input.rawBody,
    email: type.startsWith("email.") && isObject(body.data) ? parseEmailData(type, body.data) : undefined,
  });
}

/** Serialises the envelope for JetStream. */
export function encodeResendEvent(event: ResendEvent): Uint8Array {
  return toBinary(ResendEventSchema, event);
}

/** Reads an envelope from JetStream; anything unusable is a poison message. */
export function decodeResendEvent(data: Uint8Array): ResendEvent {
  let event: ResendEvent;
  try {
    event = fromBinary(ResendEventSchema, data);
  } catch (error) {
    throw new PoisonMessageError(`not a ResendEvent protobuf: ${(error as Error).message}`, { cause: error });
  }
  if (event.schemaVersion !== envelopeSchemaVersion) {
    throw new PoisonMessageError(`unsupported envelope schema_version ${event.schemaVersion}`);
  }
  if (!event.workspaceId || !event.svixId || !event.type) {
    throw new PoisonMessageError("envelope lacks workspace_id, svix_id or type");
  }
  return event;
}

/** Hard bounce: Resend/SES type `Permanent`. Soft: `Transient`, `Temporary`, `Undetermined`. */
export function isHardBounce(bounce: { type: string }): boolean {
  return bounce.type.toLowerCase() === "permanent";
}

const messageLevelSubTypes = new Set(["messagetoolarge", "contentrejected", "attachmentrejected"]);

/** Sub-types that say nothing about the address: they never count toward suppression. */
export function isMessageLevelBounce(bounce: { subType: string }): boolean {
  return messageLevelSubTypes.has(bounce.subType.toLowerCase());
}

/** Attribution fallback from Resend tags (`campaign_id`, `subscriber_id`). */
export function attributionFromTags(email: EmailEventData): { campaignId?: string; subscriberId?: string } {
  return { campaignId: email.tags.campaign_id || undefined, subscriberId: email.tags.subscriber_id || undefined };
}
