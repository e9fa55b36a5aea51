/**
 * Internal token check: when INTERNAL_TOKEN is set every RPC needs
 * `Authorization: Bearer <token>` (reads expose personal data). The gRPC
 * health service stays open so the mesh and orchestrators can probe it.
 *
 * INTERNAL_TOKEN may name one token per calling service (`billing:<token>,
 * crm:<token>`), so one can be revoked alone; the name of the token that
 * matched is the authenticated caller, handed to handlers as a context value
 * (`callerOf`) for audit entries — "local" when auth is off.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { Code, ConnectError, createContextKey, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { localCaller, parseInternalTokens, type NamedToken } from "../config.ts";

const open = new Set(["grpc.health.v1.Health"]);
const digest = (value: string) => createHash("sha256").update(value).digest();

/** The authenticated caller of an RPC: a token's name, or "local" when no token is configured. */
export const callerKey = createContextKey<string>(localCaller, { description: "ngsreach authenticated caller" });

/** Who called, for audit entries. */
export function callerOf(context: Pick<HandlerContext, "values">): string {
  return context.values.get(callerKey);
}

/**
 * The name of the token the header carries, or undefined. Every configured token is compared, in
 * constant time over SHA-256 digests, whichever matches: the time taken says nothing about which
 * token (or how much of one) was right.
 */
export function matchBearer(header: string | null, tokens: readonly NamedToken[]): string | undefined {
  if (!header?.startsWith("Bearer ")) return undefined;
  const presented = digest(header.slice(7));
  let matched: string | undefined;
  for (const { name, token } of tokens) {
    if (timingSafeEqual(presented, digest(token))) matched = name; // names and tokens are unique
  }
  return matched;
}

/**
 * Interceptor rejecting calls without a configured token and recording the caller's name; with no
 * token configured every call passes as "local". `internalToken` is INTERNAL_TOKEN as given (a
 * malformed one throws a ConfigError naming the variable).
 */
export function internalTokenAuth(internalToken: string | undefined): Interceptor {
  const tokens = parseInternalTokens(internalToken);
  return (next) => async (req) => {
    if (tokens.length > 0 && !open.has(req.service.typeName)) {
      const caller = matchBearer(req.header.get("authorization"), tokens);
      if (caller === undefined) {
        throw new ConnectError("missing or wrong internal token (Authorization: Bearer ...)", Code.Unauthenticated);
      }
      req.contextValues.set(callerKey, caller);
    }
    return await next(req);
  };
}
