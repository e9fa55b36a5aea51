/**
 * Opaque page tokens for every list RPC. A token carries the cursor and a
 * checksum over the cursor and the request's scope (workspace and filters),
 * so a token that was edited, or reused with other filters, is rejected as
 * InvalidArgument instead of silently returning the wrong page. Queries stay
 * workspace-scoped whatever the token says.
 */
import { createHash } from "node:crypto";
import { InvalidArgumentError } from "./errors.ts";

export const defaultPageSize = 50;
export const maxPageSize = 500;

/** 0 means the default; above the maximum is clamped; negative is an error. */
export function pageSize(requested: number, field = "page_size"): number {
  if (requested < 0) throw new InvalidArgumentError(field, "must not be negative");
  return requested === 0 ? defaultPageSize : Math.min(requested, maxPageSize);
}

const checksum = (scope: string, payload: string) =>
  createHash("sha256").update(scope).update("\0").update(payload).digest("base64url").slice(0, 22);

/** Encodes a cursor for the given scope. */
export function encodePageToken(scope: string, cursor: unknown): string {
  const payload = Buffer.from(JSON.stringify(cursor)).toString("base64url");
  return `${payload}.${checksum(scope, payload)}`;
}

/** Decodes a token made for this scope; "" means the first page (undefined). */
export function decodePageToken<T>(token: string, scope: string, field = "page_token"): T | undefined {
  if (token === "") return undefined;
  const [payload, sum, extra] = token.split(".");
  if (!payload || !sum || extra !== undefined || checksum(scope, payload) !== sum) {
    throw new InvalidArgumentError(field, "invalid or tampered page token, or used with other filters");
  }
  try {
    return JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as T;
  } catch (error) {
    throw new InvalidArgumentError(field, "invalid page token", { cause: error });
  }
}
