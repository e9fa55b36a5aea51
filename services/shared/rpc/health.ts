/**
 * grpc.health.v1.Health: SERVING only while NATS and the database are
 * reachable. `Watch` re-checks every second and sends each change.
 */
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../../gen/grpc/health/v1/health_pb.ts";

export type ReadinessCheck = () => Promise<boolean>;

/** Registers the health service; `serviceNames` are the fully-qualified RPC services this process serves. */
export function registerHealth(router: ConnectRouter, serviceNames: readonly string[], ready: ReadinessCheck): void {
  const known = (service: string) => service === "" || serviceNames.includes(service);
  const status = async () => ((await ready()) ? Status.SERVING : Status.NOT_SERVING);
  router.service(Health, {
    async check(req) {
      if (!known(req.service)) throw new ConnectError(`unknown service "${req.service}"`, Code.NotFound);
      return { status: await status() };
    },
    async *watch(req, context) {
      if (!known(req.service)) {
        yield { status: Status.SERVICE_UNKNOWN };
        return;
      }
      let last: Status | undefined;
      while (!context.signal.aborted) {
        const now = await status();
        if (now !== last) yield { status: now };
        last = now;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    },
  });
}
