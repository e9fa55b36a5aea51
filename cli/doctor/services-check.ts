/**
 * Is each of the four services up? grpc.health.v1.Health/Check on each, as
 * the mesh and orchestrators probe it: SERVING only while its NATS and
 * database are reachable (the health service needs no token).
 */
import { ConnectError } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.ts";
import type { Env } from "../../services/shared/config.ts";
import { isUnreachable, serviceClient, serviceNames, serviceUrl, urlVariableOf, type ServiceName } from "../endpoints.ts";
import { check, type Check } from "./check.ts";

async function serviceCheck(service: ServiceName, env: Env): Promise<Check> {
  const url = serviceUrl(service, env);
  const name = `service ${service}`;
  try {
    const { status } = await serviceClient(Health, service, env).check({}, { timeoutMs: 5000 });
    if (status === Status.SERVING) return check(name, "ok", `serving at ${url}`);
    return check(name, "fail", `answers at ${url} but is not serving: it cannot reach NATS or its database`, {
      fixes: [`check that NATS and the database run and that ${service}'s NATS_URL and MONGODB_URI point at them (its log says which failed)`],
    });
  } catch (error) {
    if (isUnreachable(error)) {
      return check(name, "fail", `nothing answers at ${url}`, {
        fixes: [`start it (npm start starts all four services), or set ${urlVariableOf(service)} to where it runs`],
      });
    }
    return check(name, "fail", `health check at ${url} failed: ${ConnectError.from(error).rawMessage}`, {
      fixes: [`check that ${url} is ${service} (${urlVariableOf(service)}) and look at its log`],
    });
  }
}

export const servicesChecks = (env: Env): Promise<Check[]> => Promise.all(serviceNames.map((service) => serviceCheck(service, env)));
