/**
 * Internal token check: when INTERNAL_TOKEN is set every RPC needs
 * `Authorization: Bearer <token>` (reads expose personal data). The gRPC
 * health service stays open so the mesh and orchestrators can probe it.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

const open = new Set(["grpc.health.v1.Health"]);
const digest = (value: string) => createHash("sha256").update(value).digest();

/** True when the header carries exactly the token; compares in constant time. */
export function bearerMatches(header: string | null, token: string): boolean {
  if (!header?.startsWith("Bearer ")) return false;
  return timingSafeEqual(digest(header.slice(7)), digest(token));
}

/** Interceptor rejecting calls without the token; a no-op when no token is configured. */
export function internalTokenAuth(token: string | undefined): Interceptor {
  return (next) => async (req) => {
    if (token !== undefined && !open.has(req.service.typeName) && !bearerMatches(req.header.get("authorization"), token)) {
      throw new ConnectError("missing or wrong internal token (Authorization: Bearer ...)", Code.Unauthenticated);
    }
    return await next(req);
  };
}
