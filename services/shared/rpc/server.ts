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
  const http1 = createHttp1Server({ requestTimeout, headersTimeout: Math.min(requestTimeout, 10_000), keepAliveTimeout: 65_000 }, handler);
  const http2 = createHttp2Server({}, handler);
  const sessions = new Set<Http2Session>();
  http2.on("session", (session) => {
    sessions.add(session);
    session.setTimeout(120_000, () => session.close());
    session.once("close", () => sessions.delete(session));
  });

  const sockets = new Set<Socket>();
  const tcp = createTcpServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.setTimeout(requestTimeout, () => {
      if (!handedOver) socket.destroy();
    });
    let handedOver = false;
    const route = () => {
      const chunk: Buffer | null = socket.read();
      if (chunk === null) return void socket.once("readable", route);
      socket.unshift(chunk);
      const head = chunk.subarray(0, preface.length);
      const http2Preface = preface.subarray(0, head.length).equals(head);
      // No HTTP/1 request starts with "PR" followed by "I", so waiting for the whole preface is safe.
      if (http2Preface && head.length < preface.length) return void socket.once("readable", route);
      handedOver = true;
      socket.setTimeout(0);
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
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      for (const session of sessions) session.close();
      const deadline = Date.now() + graceMs;
      // Keep-alive HTTP/1.1 connections only close once idle: close them as they become idle.
      while (sockets.size > 0 && Date.now() < deadline) {
        http1.closeIdleConnections();
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
