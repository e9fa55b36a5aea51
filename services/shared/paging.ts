/**
 * Opaque page tokens for every list RPC. A token carries the cursor and an
 * HMAC over the cursor and the request's scope (workspace and filters), keyed
 * with PAGE_TOKEN_KEY, so only a server makes one: a token that was edited,
 * forged, or reused with other filters is rejected as InvalidArgument instead
 * of silently returning the wrong page or feeding a made-up cursor to a query.
 * Queries stay workspace-scoped whatever the token says.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { InvalidArgumentError } from "./errors.ts";

export const defaultPageSize = 50;
export const maxPageSize = 500;

/** 0 means the default; above the maximum is clamped; negative is an error. */
export function pageSize(requested: number, field = "page_size"): number {
  if (requested < 0) throw new InvalidArgumentError(field, "must not be negative");
  return requested === 0 ? defaultPageSize : Math.min(requested, maxPageSize);
}

/**
 * The key of this process's tokens. Every instance of a service must use the same one, so that a page
 * token from one instance works on the next page request, whichever instance takes it. Until start-up sets
 * it (service-host.ts, from PAGE_TOKEN_KEY), a fixed development key: fine for tests and a local stack,
 * logged as a warning where it matters.
 */
let key: Buffer = Buffer.from("ngsreach development page-token key: set PAGE_TOKEN_KEY");

/** Makes `secret` the key of every token encoded or decoded from now on. */
export function usePageTokenKey(secret: string): void {
  key = Buffer.from(secret, "utf8");
}

const mac = (scope: string, payload: string) => createHmac("sha256", key).update(scope).update("\0").update(payload).digest();

/** Encodes a cursor for the given scope. */
export function encodePageToken(scope: string, cursor: unknown): string {
  const payload = Buffer.from(JSON.stringify(cursor)).toString("base64url");
  return `${payload}.${mac(scope, payload).toString("base64url")}`;
}

/** Decodes a token made for this scope; "" means the first page (undefined). */
export function decodePageToken<T>(token: string, scope: string, field = "page_token"): T | undefined {
  if (token === "") return undefined;
  const [payload, sum, extra] = token.split(".");
  // Compared as text: decoding would ignore the unused low bits of the last character, so an edited
  // token could pass (and a test that edits one character failed only now and then).
  const given = Buffer.from(sum ?? "");
  const expected = payload ? Buffer.from(mac(scope, payload).toString("base64url")) : undefined;
  if (!payload || extra !== undefined || !expected || given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new InvalidArgumentError(field, "invalid or tampered page token, or used with other filters");
  }
  try {
    return JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as T;
  } catch (error) {
    throw new InvalidArgumentError(field, "invalid page token", { cause: error });
  }
}
