/**
 * A loopback stand-in of Resend's `GET /emails/{id}` and `GET /emails` (cursor paging, newest first),
 * driven by the test's data, with Resend's failure modes on demand: its rate limit (429 with
 * `retry-after` once a key exceeds `ratePerSecond` requests in a one-second window), injected 429s and
 * 500s, and a wrong-key mode (403, as Resend answers an invalid key; 401 without a key). Every request
 * is recorded (time, path, status) so a test can count requests per second window.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** An email as Resend's API returns it (only the fields reconciliation reads, plus what a real one has). */
export interface StandInEmail {
  id: string;
  to: string[];
  created_at: string;
  last_event: string | null;
  bounce?: { type: string; subType: string; message: string };
  subject?: string;
}

export interface StandInRequest {
  atMs: number;
  path: string;
  status: number;
}

export interface ResendApiStandIn {
  readonly baseUrl: string;
  /** The key the stand-in accepts. */
  readonly apiKey: string;
  /** Emails, newest first (as Resend lists them); tests may change it at any time. */
  emails: StandInEmail[];
  readonly requests: StandInRequest[];
  /** The next `count` requests get 429 with this `retry-after` (seconds). */
  fail429(count: number, retryAfterSeconds: number): void;
  /** The next `count` requests get 500. */
  fail500(count: number): void;
  /** A 500 now and then: each request fails with 500 with this probability (0 turns it off); `random` makes it repeatable. */
  set500Rate(probability: number, random?: () => number): void;
  /** When on, the configured key is refused too (a revoked key). */
  revokeKey(revoked: boolean): void;
  close(): Promise<void>;
}

export async function startResendApiStandIn(options: { apiKey?: string; ratePerSecond?: number; emails?: StandInEmail[] } = {}): Promise<ResendApiStandIn> {
  const apiKey = options.apiKey ?? `re_standin_${Math.random().toString(36).slice(2, 12)}`;
  const ratePerSecond = options.ratePerSecond ?? 2;
  const requests: StandInRequest[] = [];
  const windows = new Map<string, { second: number; count: number }>();
  let forced429 = { count: 0, retryAfter: 1 };
  let forced500 = 0;
  let rate500 = 0;
  let random = Math.random;
  let revoked = false;
  const state = { emails: options.emails ?? [] };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://stand-in");
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      requests.push({ atMs: Date.now(), path: url.pathname + url.search, status });
      res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
    };
    const auth = req.headers.authorization;
    if (!auth) return send(401, { statusCode: 401, name: "missing_api_key", message: "Missing API key in the authorization header." });
    if (revoked || auth !== `Bearer ${apiKey}`) return send(403, { statusCode: 403, name: "invalid_api_key", message: "API key is invalid." });
    if (forced429.count > 0) {
      forced429.count--;
      return send(429, { statusCode: 429, name: "rate_limit_exceeded" }, { "retry-after": String(forced429.retryAfter) });
    }
    const second = Math.floor(Date.now() / 1000);
    const window = windows.get(auth);
    if (window && window.second === second && window.count >= ratePerSecond) {
      return send(429, { statusCode: 429, name: "rate_limit_exceeded" }, { "retry-after": "1" });
    }
    windows.set(auth, window && window.second === second ? { second, count: window.count + 1 } : { second, count: 1 });
    if (forced500 > 0 || (rate500 > 0 && random() < rate500)) {
      forced500 = Math.max(forced500 - 1, 0);
      return send(500, { statusCode: 500, name: "internal_server_error" });
    }
    if (req.method !== "GET") return send(405, { statusCode: 405, name: "method_not_allowed" });
    if (url.pathname === "/emails") {
      const limit = Number(url.searchParams.get("limit") ?? "20");
      if (!Number.isInteger(limit) || limit < 1 || limit > 100) return send(422, { statusCode: 422, name: "validation_error" });
      const after = url.searchParams.get("after");
      const start = after === null ? 0 : state.emails.findIndex((email) => email.id === after) + 1;
      if (after !== null && start === 0) return send(422, { statusCode: 422, name: "validation_error" });
      const data = state.emails.slice(start, start + limit).map(({ bounce: _bounce, ...listed }) => listed);
      return send(200, { object: "list", has_more: start + limit < state.emails.length, data });
    }
    const match = /^\/emails\/([^/]+)$/.exec(url.pathname);
    const email = match ? state.emails.find((candidate) => candidate.id === decodeURIComponent(match[1]!)) : undefined;
    if (!email) return send(404, { statusCode: 404, name: "not_found", message: "Email not found" });
    return send(200, { object: "email", from: "Stand-in <news@example.com>", html: "<p>hello</p>", ...email });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    apiKey,
    get emails() {
      return state.emails;
    },
    set emails(emails) {
      state.emails = emails;
    },
    requests,
    fail429: (count, retryAfter) => void (forced429 = { count, retryAfter }),
    fail500: (count) => void (forced500 = count),
    set500Rate: (probability, source = Math.random) => {
      rate500 = probability;
      random = source;
    },
    revokeKey: (value) => void (revoked = value),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
