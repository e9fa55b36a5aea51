/**
 * One port serving gRPC over HTTP/2 cleartext (the mesh), and the Connect
 * protocol and plain HTTP over HTTP/1.1 (curl, webhooks, /metrics).
 *
 * Node's cleartext http2 server cannot answer HTTP/1.1 itself (allowHTTP1
 * needs TLS), so each new connection's first bytes are read in paused mode
 * and the socket is handed to the http or the http2 server depending on
 * whether they start the HTTP/2 preface. Reading with a 'data' listener
 * instead breaks HTTP/2 on Node (checked on Node 24 and Deno 2.9).
 */
import { createServer as createHttp1Server, type IncomingMessage } from "node:http";
import { createServer as createHttp2Server, type Http2ServerRequest, type Http2Session } from "node:http2";
import { createServer as createTcpServer, type Socket } from "node:net";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";

export type HttpRequest = IncomingMessage | Http2ServerRequest;
/** The part of an HTTP/1.1 or HTTP/2 compatibility response that plain handlers use. */
export interface HttpResponse {
  readonly headersSent: boolean;
  writeHead(status: number, headers?: Record<string, string>): unknown;
  end(body?: string | Uint8Array): unknown;
}
/** Handles what is not an RPC (webhooks, /metrics); answers 404 when it does not know the path. */
export type HttpFallback = (req: HttpRequest, res: HttpResponse) => void;

export interface RpcServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  routes: (router: ConnectRouter) => void;
  interceptors: Interceptor[];
  fallback: HttpFallback;
  /** Cuts off clients that take longer to send a whole request (slow loris). */
  requestTimeoutMs?: number;
  /** Largest RPC request message accepted. */
  readMaxBytes?: number;
}

export interface RpcServer {
  readonly port: number;
  /** Stops accepting, lets in-flight requests finish (up to graceMs), then closes every connection. */
  close(graceMs?: number): Promise<void>;
}

const preface = Buffer.from("PRI * HTTP/2.0");

/** Starts listening; rejects with a message naming the port when it is taken. */
export async function startRpcServer(options: RpcServerOptions): Promise<RpcServer> {
  const handler = connectNodeAdapter({
    routes: options.routes,
    interceptors: options.interceptors,
    readMaxBytes: options.readMaxBytes ?? 4 * 1024 * 1024,
    fallback: (req, res) => options.fallback(req, res as unknown as HttpResponse),
  });
  const requestTimeout = options.requestTimeoutMs ?? 30_000;
  const http1 = createHttp1Server(
    { requestTimeout, headersTimeout: Math.min(requestTimeout, 10_000), keepAliveTimeout: 65_000, connectionsCheckingInterval: 1000 },
    handler,
  );
  // The http server enforces requestTimeout/headersTimeout (slow clients) only once it saw 'listening';
  // it never listens itself here, since the TCP server hands it its connections.
  http1.emit("listening");
  const http2 = createHttp2Server({}, handler);
  const sessions = new Set<Http2Session>();
  http2.on("session", (session) => {
    sessions.add(session);
    session.setTimeout(120_000, () => session.close());
    session.once("close", () => sessions.delete(session));
  });

  // Keep-alive HTTP/1.1 sockets: closed as soon as they carry no request, so a stop never waits on idle clients.
  const activeRequests = new Map<Socket, number>();
  let closing = false;
  http1.on("request", (req: IncomingMessage, res) => {
    const socket = req.socket;
    activeRequests.set(socket, (activeRequests.get(socket) ?? 0) + 1);
    res.once("close", () => {
      const left = (activeRequests.get(socket) ?? 1) - 1;
      activeRequests.set(socket, left);
      if (closing && left === 0) socket.destroy();
    });
  });

  /** Every open connection, and what it was handed to once its first bytes arrived. */
  const sockets = new Map<Socket, "unrouted" | "http1" | "http2">();
  const tcp = createTcpServer((socket) => {
    sockets.set(socket, "unrouted");
    socket.once("close", () => {
      sockets.delete(socket);
      activeRequests.delete(socket);
    });
    // A client that never sends its first bytes is cut off; after routing, the servers' own timeouts apply.
    socket.setTimeout(requestTimeout, () => socket.destroy());
    const route = () => {
      const chunk: Buffer | null = socket.read();
      if (chunk === null) return void socket.once("readable", route);
      socket.unshift(chunk);
      const head = chunk.subarray(0, preface.length);
      const http2Preface = preface.subarray(0, head.length).equals(head);
      // No HTTP/1 request starts with "PR" followed by "I", so waiting for the whole preface is safe.
      if (http2Preface && head.length < preface.length) return void socket.once("readable", route);
      socket.setTimeout(0);
      sockets.set(socket, http2Preface ? "http2" : "http1");
      (http2Preface ? http2 : http1).emit("connection", socket);
    };
    socket.once("readable", route);
  });

  await new Promise<void>((resolve, reject) => {
    tcp.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "EADDRINUSE"
          ? new Error(`port ${options.port} on ${options.host} is already in use`, { cause: error })
          : error,
      ),
    );
    tcp.listen(options.port, options.host, () => resolve());
  });
  const address = tcp.address();
  const port = typeof address === "object" && address ? address.port : options.port;

  return {
    port,
    close: async (graceMs = 5000) => {
      closing = true;
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      for (const session of sessions) session.close();
      for (const [socket, protocol] of sockets) {
        if (protocol === "unrouted" || (protocol === "http1" && !activeRequests.get(socket))) socket.destroy();
      }
      const deadline = Date.now() + graceMs;
      while (sockets.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      for (const session of sessions) session.destroy();
      for (const socket of sockets.keys()) socket.destroy();
      await closed;
    },
  };
}
