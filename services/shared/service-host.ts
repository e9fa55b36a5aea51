/**
 * Starting and stopping a service process: connect to NATS and the database,
 * create streams, let the service build its repositories, routes and
 * consumers, serve RPCs + /metrics + /healthz on one port, and drain on stop.
 */
import type { ConnectRouter } from "@connectrpc/connect";
import type { BaseConfig } from "./config.ts";
import { usePageTokenKey } from "./paging.ts";
import { startConsumer, type ConsumerSpec, type RunningConsumer } from "./consumer.ts";
import { createLogger, type Logger } from "./log.ts";
import { countWriteStatements } from "./database-writes.ts";
import { MetricsRegistry } from "./metrics.ts";
import { workerSlot } from "./worker-processes.ts";
import { connectMongo, type MongoHandles } from "./mongo.ts";
import { connectNats, ensureStreams, type NatsHandles } from "./nats.ts";
import { internalTokenAuth } from "./rpc/auth.ts";
import { errorMapping } from "./rpc/error-mapping.ts";
import { registerHealth } from "./rpc/health.ts";
import { registerReflection } from "./rpc/reflection.ts";
import { rpcMetrics } from "./rpc/rpc-metrics.ts";
import { registerScrapeGauges } from "./scrape-gauges.ts";
import { startRpcServer, type HttpFallback, type HttpRequest, type HttpResponse } from "./rpc/server.ts";
import { rpcTracing } from "./tracing/rpc-spans.ts";
import { startTracing } from "./tracing/start.ts";

/** What a service gets to build itself from. */
export interface ServiceContext {
  readonly config: BaseConfig;
  readonly log: Logger;
  readonly metrics: MetricsRegistry;
  readonly nats: NatsHandles;
  readonly mongo: MongoHandles;
}

/** What a service hands back: its RPCs, consumers, extra HTTP paths and clean-up. */
export interface ServiceParts {
  /** Fully-qualified names of the RPC services registered in `routes` (for health checks). */
  rpcServiceNames: string[];
  routes(router: ConnectRouter): void;
  consumers?: ConsumerSpec<any>[];
  /** Non-RPC HTTP handling; return false to fall through to 404. */
  http?: (req: HttpRequest, res: HttpResponse) => boolean;
  /** Runs after the server and consumers stopped, before connections close. */
  stop?(): Promise<void>;
}

export interface ServiceDefinition {
  /** Short name used in logs and metrics, e.g. "delivery-status". */
  name: string;
  port: number;
  build(context: ServiceContext): Promise<ServiceParts>;
}

export interface RunningService {
  readonly port: number;
  readonly context: ServiceContext;
  stop(): Promise<void>;
}

/** How a start-up that hit STARTUP_TIMEOUT_SECONDS begins its error (a supervisor may recognise it). */
export const startupTimedOut = "start-up did not finish within STARTUP_TIMEOUT_SECONDS";

/**
 * Connects, builds and serves one service — within STARTUP_TIMEOUT_SECONDS. A step that never ends (a
 * database that accepts the connection and never answers) would leave the process up and never ready,
 * which an orchestrator may not notice; instead start-up fails naming the step, and the process exits.
 */
export async function startService(definition: ServiceDefinition, config: BaseConfig, log?: Logger): Promise<RunningService> {
  const progress = { step: "starting" };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${startupTimedOut} (${config.startupTimeoutMs / 1000} s); it was ${progress.step}`)),
      config.startupTimeoutMs,
    );
  });
  try {
    return await Promise.race([startSteps(definition, config, progress, log), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function startSteps(definition: ServiceDefinition, config: BaseConfig, progress: { step: string }, log?: Logger): Promise<RunningService> {
  const slot = workerSlot();
  const logger = log ?? createLogger({ service: definition.name, ...(slot === undefined ? {} : { worker: slot }) }, config.logLevel);
  const metrics = new MetricsRegistry();
  metrics.serveToPrimary();
  if (config.pageTokenKey) usePageTokenKey(config.pageTokenKey);
  else logger.warn("PAGE_TOKEN_KEY is unset: page tokens are signed with a development key; set it, the same on every instance");
  // Before the connections: the database client turns on command monitoring only when tracing is on.
  const tracing = await startTracing(config.tracing, definition.name, logger);
  let nats: NatsHandles;
  let mongo: MongoHandles;
  progress.step = "connecting to NATS";
  try {
    nats = await connectNats(config.natsUrl, definition.name, logger);
  } catch (error) {
    await tracing?.stop();
    throw error;
  }
  progress.step = "connecting to the database";
  try {
    mongo = await connectMongo(config.mongoUri, config.mongoDatabase, definition.name, logger);
  } catch (error) {
    await nats.nc.close();
    await tracing?.stop();
    throw error;
  }
  countWriteStatements(mongo.client, metrics);
  const context: ServiceContext = { config, log: logger, metrics, nats, mongo };
  const closeConnections = async () => {
    await nats.nc.drain().catch(() => nats.nc.close());
    await mongo.close();
    await tracing?.stop(); // last: exports the spans of everything above
  };

  let parts: ServiceParts;
  let consumers: RunningConsumer[] = [];
  try {
    progress.step = "creating or updating the streams";
    await ensureStreams(nats.jsm, config);
    progress.step = "building the service (its indexes and repositories)";
    parts = await definition.build(context);
    for (const spec of parts.consumers ?? []) {
      progress.step = `starting consumer ${spec.name}`;
      consumers.push(await startConsumer({ js: nats.js, jsm: nats.jsm, log: logger, metrics }, { batchSize: config.consumerBatchSize, maxAttempts: config.consumerMaxAttempts, handlerTimeoutMs: config.consumerHandlerTimeoutMs, ...spec }));
    }
    registerScrapeGauges({ metrics, nats, mongo, consumers: (parts.consumers ?? []).map(({ name, stream }) => ({ name, stream })) });
  } catch (error) {
    await Promise.all(consumers.map((consumer) => consumer.stop()));
    await closeConnections();
    throw error;
  }

  const ready = async () => nats.connected() && (await mongo.ping());
  progress.step = "starting the RPC server";
  const server = await startRpcServer({
    host: config.listenHost,
    port: definition.port,
    requestTimeoutMs: config.requestTimeoutMs,
    // rpcTracing and rpcMetrics outermost: they record the code the client gets, after error mapping and the token check.
    interceptors: [rpcTracing(), rpcMetrics(metrics), errorMapping(logger), internalTokenAuth(config.internalToken)],
    routes: (router) => {
      registerHealth(router, parts.rpcServiceNames, ready);
      parts.routes(router);
      registerReflection(router);
    },
    fallback: plainHttp(parts, metrics, ready),
  }).catch(async (error) => {
    await Promise.all(consumers.map((consumer) => consumer.stop()));
    await closeConnections();
    throw error;
  });
  logger.info("service started", { port: server.port });

  return {
    port: server.port,
    context,
    stop: async () => {
      // Within SHUTDOWN_DRAIN_SECONDS (runMain exits by force after it): in-flight requests are answered
      // while the consumers finish what they pulled; closing the connections gets the last seconds.
      const workMs = Math.max(1000, config.shutdownDrainMs - 3000);
      await Promise.all([server.close(Math.min(workMs, 5000)), ...consumers.map((consumer) => consumer.stop(workMs))]);
      consumers = [];
      await parts.stop?.();
      await closeConnections();
      logger.info("service stopped");
    },
  };
}

function plainHttp(parts: ServiceParts, metrics: MetricsRegistry, ready: () => Promise<boolean>): HttpFallback {
  return (req, res) => {
    if (parts.http?.(req, res)) return;
    const path = (req.url ?? "").split("?")[0];
    if (req.method === "GET" && path === "/metrics") {
      // Never rejects in practice (the scrape-time gauges bound and catch their reads; gathering several worker
      // processes' metrics is bounded too); a bug or a primary that does not answer is a 500, not a hang.
      void metrics.renderForScrape().then(
        (text) => {
          res.writeHead(200, { "content-type": metrics.contentType });
          res.end(text);
        },
        () => {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end("metrics unavailable\n");
        },
      );
      return;
    }
    if (req.method === "GET" && path === "/healthz") {
      void ready().then((ok) => {
        res.writeHead(ok ? 200 : 503, { "content-type": "application/json" });
        res.end(JSON.stringify({ status: ok ? "SERVING" : "NOT_SERVING" }));
      });
      return;
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: "not_found", message: `no route for ${req.method} ${path}` }));
  };
}
