/**
 * Input checks shared by every RPC and the webhook: each failure names the
 * field, so a caller knows what to fix.
 */
import { InvalidArgumentError } from "./errors.ts";

const workspaceIdPattern = /^[A-Za-z0-9_-]{1,64}$/;

/** True for `[A-Za-z0-9_-]{1,64}`: safe inside a NATS subject and a document id. */
export function isWorkspaceId(value: unknown): value is string {
  return typeof value === "string" && workspaceIdPattern.test(value);
}

/** Returns the workspace id or throws InvalidArgument naming the field. */
export function requireWorkspaceId(value: string, field = "workspace_id"): string {
  if (!value) throw new InvalidArgumentError(field, "required");
  if (!isWorkspaceId(value)) throw new InvalidArgumentError(field, "must match [A-Za-z0-9_-]{1,64}");
  return value;
}

/** Returns a required, bounded, printable string (ids, addresses, notes). */
export function requireText(value: string, field: string, maxLength = 256): string {
  if (!value || value.trim() === "") throw new InvalidArgumentError(field, "required");
  if (value.length > maxLength) throw new InvalidArgumentError(field, `at most ${maxLength} characters`);
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new InvalidArgumentError(field, "must not contain control characters");
  return value;
}

/** Like requireText, but an empty value is allowed and returned as undefined. */
export function optionalText(value: string, field: string, maxLength = 256): string | undefined {
  return value === "" ? undefined : requireText(value, field, maxLength);
}
