/**
 * The RPC baseline: a bare connect-node server over HTTP/2 cleartext that
 * answers each benchmarked method with a constant response — the real
 * service's answer captured earlier in the same run, so the message has the
 * same shape and size and is serialised on every call like the real one. No
 * database, no NATS, no interceptors: what the RPC framework alone costs on
 * this machine.
 *
 *   BENCH_RPC_RESPONSES=<file.json> node bench/rpc/baseline-server.ts   (prints "listening <port>")
 *
 * The file maps "<package.Service>/<Method>" to the response's protobuf
 * binary in base64.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:http2";
import { fromBinary, type DescMessage, type DescMethodUnary, type MessageShape } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { CampaignStatsService } from "../../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { DeliveryStatusService } from "../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { SuppressionService } from "../../gen/ngsreach/suppression/v1/suppression_pb.ts";

const responses = JSON.parse(readFileSync(process.env.BENCH_RPC_RESPONSES!, "utf8")) as Record<string, string>;
const methods = [SuppressionService, CampaignStatsService, DeliveryStatusService].flatMap((service) => service.methods);

function constant<I extends DescMessage, O extends DescMessage>(router: ConnectRouter, method: DescMethodUnary<I, O>, bytes: Uint8Array) {
  const message: MessageShape<O> = fromBinary(method.output, bytes);
  router.rpc(method, async () => message);
}

const routes = (router: ConnectRouter) => {
  for (const [name, base64] of Object.entries(responses)) {
    const method = methods.find((m) => `${m.parent.typeName}/${m.name}` === name);
    if (!method || method.methodKind !== "unary") throw new Error(`no unary method ${name}`);
    constant(router, method as DescMethodUnary, Buffer.from(base64, "base64"));
  }
};

const server = createServer({}, connectNodeAdapter({ routes }));
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === "object" && address ? address.port : 0}\n`);
});
process.on("SIGTERM", () => {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
