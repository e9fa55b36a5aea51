/**
 * The one place where use-case errors become Connect codes. Unknown errors
 * are logged with their detail and answered as Internal without it, so a
 * driver message never reaches a client.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { ConflictError, FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../errors.ts";
import { isTransientFailure } from "../failures.ts";
import type { Logger } from "../log.ts";

/** Maps one thrown value to the ConnectError a client sees. */
export function toConnectError(error: unknown, log: Logger, method: string): ConnectError {
  if (error instanceof ConnectError) return error;
  if (error instanceof InvalidArgumentError) return new ConnectError(error.message, Code.InvalidArgument);
  if (error instanceof NotFoundError) return new ConnectError(error.message, Code.NotFound);
  if (error instanceof ConflictError) return new ConnectError(error.message, Code.AlreadyExists);
  if (error instanceof FailedPreconditionError) return new ConnectError(error.message, Code.FailedPrecondition);
  if (isTransientFailure(error)) {
    log.warn("dependency unavailable", { method, error });
    return new ConnectError("temporarily unavailable, retry later", Code.Unavailable);
  }
  log.error("unexpected error", { method, error, stack: error instanceof Error ? error.stack : undefined });
  return new ConnectError("internal error", Code.Internal);
}

/** Interceptor applying toConnectError to unary calls and to server streams. */
export function errorMapping(log: Logger): Interceptor {
  return (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    try {
      const res = await next(req);
      if (!res.stream) return res;
      const inner = res.message;
      return {
        ...res,
        message: (async function* () {
          try {
            yield* inner;
          } catch (error) {
            throw toConnectError(error, log, method);
          }
        })(),
      };
    } catch (error) {
      throw toConnectError(error, log, method);
    }
  };
}
