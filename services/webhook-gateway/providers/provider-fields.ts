/**
 * Small readers the SendGrid, Mailgun and Postmark adapters share: bounded strings out of verified JSON,
 * times, tags, the SMTP status inside a diagnostic line, and the header and comparison helpers their
 * verifiers use. Nothing here knows a provider.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { parseResendTime } from "../../shared/resend-events.ts";
import { BadProviderBodyError } from "./provider-adapter.ts";

/** Event and message ids end up in JetStream message ids and document ids. */
export const maxIdLength = 256;
/** Diagnostic lines, reasons, subjects: kept for the timeline, cut past this. */
export const maxTextLength = 2_000;
export const maxTags = 50;
export const maxTagLength = 256;
/** ±5 minutes, as for Resend (DESIGN.md). */
export const toleranceSeconds = 300;

export type Json = Record<string, unknown>;

export const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value);

/** A string field verbatim (numbers too, as some providers send ids as numbers), cut to `max`; "" otherwise. */
export function text(value: unknown, max = maxTextLength): string {
  if (typeof value === "string") return value.slice(0, max);
  if (typeof value === "number" && Number.isFinite(value)) return String(value).slice(0, max);
  return "";
}

/** An object field, `{}` when absent or not an object (verified bodies are read leniently past their ids). */
export const objectAt = (value: unknown): Json => (isObject(value) ? value : {});

/**
 * An id the pipeline deduplicates on: a non-empty string of at most 256 characters, or a
 * BadProviderBodyError naming the field (never its value, which might be an address).
 */
export function requiredId(value: unknown, field: string): string {
  if (typeof value !== "string" || value === "" || value.length > maxIdLength) {
    throw new BadProviderBodyError(`${field} must be a string of 1 to ${maxIdLength} characters`);
  }
  return value;
}

/** Like requiredId, but absent (or null) reads as "": the event is kept and attributed by other means. */
export function optionalId(value: unknown, field: string): string {
  if (value === undefined || value === null || value === "") return "";
  return requiredId(value, field);
}

const earliestMs = Date.UTC(2000, 0, 1);
const latestMs = Date.UTC(2100, 0, 1);
const plausible = (ms: number): Date | undefined => (Number.isFinite(ms) && ms >= earliestMs && ms < latestMs ? new Date(ms) : undefined);

/** Unix seconds (integer or fractional, number or digit string) as a Date; undefined when not a plausible time. */
export function fromUnixSeconds(value: unknown): Date | undefined {
  const seconds = typeof value === "string" && /^\d{1,12}(\.\d{1,9})?$/.test(value) ? Number(value) : value;
  return typeof seconds === "number" ? plausible(Math.round(seconds * 1000)) : undefined;
}

/** An ISO 8601 time (`Z` or an offset, up to 9 fractional digits) as a Date; undefined otherwise. */
export function fromIsoTime(value: unknown): Date | undefined {
  const timestamp = parseResendTime(value);
  return timestamp ? plausible(timestampMs(timestamp)) : undefined;
}

/**
 * Flat custom metadata as tags: string, number and boolean values only, names and values cut to 256
 * characters, at most 50 — the same bounds as Resend's tags.
 */
export function tagsFrom(entries: Iterable<[string, unknown]>, into: Record<string, string> = {}): Record<string, string> {
  for (const [name, value] of entries) {
    if (Object.keys(into).length >= maxTags) break;
    if (name === "" || name in into) continue;
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
      into[name.slice(0, maxTagLength)] = String(value).slice(0, maxTagLength);
    }
  }
  return into;
}

/** The enhanced status code ("5.1.1") inside a diagnostic line, "" when there is none. */
export function smtpStatusIn(line: string): string {
  return /(?:^|[^\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])/.exec(line)?.[1] ?? "";
}

/** One header from Node's lower-cased header object (first value when repeated). */
export function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Constant-time equality of two secrets of any lengths: both are hashed first, so the time says nothing. */
export function sameSecret(a: Uint8Array, b: Uint8Array): boolean {
  return timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest());
}

/** The body as JSON, or a BadProviderBodyError saying it is not (never quoting it). */
export function parseJsonBody(body: Buffer, provider: string): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new BadProviderBodyError(`${provider} body is not JSON`);
  }
}
