/**
 * RPC latency per service, method and Connect code, as an interceptor. It
 * goes first in the server's list (outermost), so the code is the one the
 * client sees: after error mapping, and including calls the token check
 * refused. A server stream is timed to its end; one the client left early
 * counts as "canceled".
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { MetricsRegistry } from "../metrics.ts";

/** The `code` label of a call: the Connect code name ("not_found"), "ok" on success. */
export function codeLabel(error?: unknown): string {
  return error === undefined ? "ok" : codeToString(ConnectError.from(error).code);
}

/** Observes ngsreach_rpc_duration_seconds{service,method,code} for every call. */
export function rpcMetrics(metrics: MetricsRegistry): Interceptor {
  const duration = metrics.histogram(
    "ngsreach_rpc_duration_seconds",
    "Time from an RPC's arrival to its answer (a server stream: to its end), by service, method and Connect code.",
    ["service", "method", "code"],
  );
  return (next) => async (req) => {
    const started = performance.now();
    // Only registered methods reach interceptors: the labels come from the routes, not from the request path.
    const observe = (error?: unknown) =>
      duration.observe({ service: req.service.typeName, method: req.method.name, code: codeLabel(error) }, (performance.now() - started) / 1000);
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (error) {
      observe(error);
      throw error;
    }
    if (!res.stream) {
      observe();
      return res;
    }
    const inner = res.message;
    return {
      ...res,
      message: (async function* () {
        let outcome: unknown = new ConnectError("client left the stream", Code.Canceled);
        try {
          yield* inner;
          outcome = undefined;
        } catch (error) {
          outcome = error;
          throw error;
        } finally {
          observe(outcome);
        }
      })(),
    };
  };
}
