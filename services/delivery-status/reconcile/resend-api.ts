/**
 * The two Resend API endpoints reconciliation needs, as Resend documents them:
 * - `GET /emails/{id}` (resend.com/docs/api-reference/emails/retrieve-email): the email object with
 *   `id`, `to` (array), `created_at`, `last_event` (the latest event type without its "email." prefix,
 *   e.g. "delivered", "opened", "bounced"; see resend.com/docs/dashboard/emails/introduction), and, per
 *   issue 16, a `bounce` object (`type`, `subType`, `message`) for a bounced email. Only these fields are
 *   kept: subject, addresses beyond `to` and bodies are personal data this service has no use for.
 * - `GET /emails?limit=&after=` (resend.com/docs/api-reference/emails/list-emails and
 *   /api-reference/pagination): `{ object: "list", has_more, data: [email...] }`, newest first, `limit`
 *   1..100 (default 20), `after` = the id of the last email of the previous page (excluded).
 * Authentication is `Authorization: Bearer re_...`; 401 means the key is missing, 403 that it is invalid
 * (resend.com/docs/api-reference, "Response codes"). The rate limit is 2 requests/s per team by default;
 * over it Resend answers 429 with `retry-after` in seconds (resend.com/docs/api-reference/rate-limit).
 *
 * The key and response bodies never reach a log line or an error message: errors carry the status, the
 * endpoint (an email id is not personal data) and, for the auth error, the key's fingerprint.
 */
import { secretFingerprint } from "../../shared/secret-box.ts";
import type { KeyRateLimiter } from "./rate-limiter.ts";

/** What reconciliation reads of a Resend email. */
export interface ResendEmail {
  id: string;
  to: string[];
  createdAt: string;
  /** Undefined when Resend reports none (a scheduled email, say). */
  lastEvent?: string;
  bounce?: { type: string; subType: string; message: string };
}

export interface ResendEmailPage {
  emails: ResendEmail[];
  hasMore: boolean;
}

/** 401/403: the key is wrong or revoked. Retrying cannot help; a run stops on it with this reason. */
export class ResendAuthError extends Error {
  readonly status: number;
  readonly keyFingerprint: string;
  constructor(status: number, keyFingerprint: string) {
    super(`Resend refused API key ${keyFingerprint} (HTTP ${status}): ${status === 401 ? "missing" : "wrong or revoked"} key`);
    this.name = "ResendAuthError";
    this.status = status;
    this.keyFingerprint = keyFingerprint;
  }
}

/** Any other failure that retries did not fix (or that no retry can: another 4xx, a malformed answer). */
export class ResendApiError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status?: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "ResendApiError";
    this.status = status;
  }
}

export interface ResendApiOptions {
  baseUrl: string;
  apiKey: string;
  limiter: KeyRateLimiter;
  /** Attempts per request, the first included (429s count too). Default 8. */
  maxAttempts?: number;
  /** Backoff after a 5xx or a network error: 250 ms doubling, capped here. Default 8000. */
  maxBackoffMs?: number;
  /** Per attempt. Default 10 000. */
  timeoutMs?: number;
}

export const maxPageSize = 100;

/** A client bound to one workspace's key. */
export class ResendApi {
  private readonly options: Required<ResendApiOptions>;
  private readonly fingerprint: string;

  constructor(options: ResendApiOptions) {
    this.options = { maxAttempts: 8, maxBackoffMs: 8000, timeoutMs: 10_000, ...options, baseUrl: options.baseUrl.replace(/\/+$/, "") };
    this.fingerprint = secretFingerprint(options.apiKey);
  }

  /** The email, or undefined when Resend does not know it (404). */
  async getEmail(emailId: string): Promise<ResendEmail | undefined> {
    const body = await this.request(`/emails/${encodeURIComponent(emailId)}`, { allowNotFound: true, label: "GET /emails/{id}" });
    return body === undefined ? undefined : toEmail(body);
  }

  /** One page of sent emails, newest first. */
  async listEmails(page: { limit?: number; after?: string } = {}): Promise<ResendEmailPage> {
    const limit = Math.min(Math.max(page.limit ?? maxPageSize, 1), maxPageSize);
    const query = new URLSearchParams({ limit: String(limit), ...(page.after ? { after: page.after } : {}) });
    const body = (await this.request(`/emails?${query}`)) as { data?: unknown; has_more?: unknown };
    if (!Array.isArray(body.data)) throw new ResendApiError("GET /emails: answer without a data array");
    return { emails: body.data.map(toEmail), hasMore: body.has_more === true };
  }

  /** Every sent email, page after page, until Resend says there are no more. */
  async *allEmails(limit = maxPageSize): AsyncGenerator<ResendEmail> {
    let after: string | undefined;
    for (;;) {
      const page = await this.listEmails({ limit, ...(after ? { after } : {}) });
      yield* page.emails;
      if (!page.hasMore || page.emails.length === 0) return;
      after = page.emails.at(-1)!.id;
    }
  }

  /** `label` names the endpoint in errors without the email id, so one outage reads as one reason. */
  private async request(path: string, { allowNotFound = false, label = `GET ${path.split("?")[0]}` } = {}): Promise<unknown> {
    const endpoint = label;
    let lastProblem = "";
    for (let attempt = 1; attempt <= this.options.maxAttempts; attempt++) {
      await this.options.limiter.take(this.fingerprint);
      let response: Response;
      try {
        response = await fetch(`${this.options.baseUrl}${path}`, {
          headers: { authorization: `Bearer ${this.options.apiKey}`, accept: "application/json" },
          signal: AbortSignal.timeout(this.options.timeoutMs),
        });
      } catch (error) {
        lastProblem = `network error (${(error as Error).name})`;
        await this.backoff(attempt);
        continue;
      }
      if (response.ok) return await readJson(response, endpoint);
      await response.body?.cancel(); // never read: error bodies stay out of logs and errors
      if (response.status === 401 || response.status === 403) throw new ResendAuthError(response.status, this.fingerprint);
      if (response.status === 404 && allowNotFound) return undefined;
      if (response.status === 429) {
        lastProblem = "HTTP 429";
        this.options.limiter.pause(this.fingerprint, Date.now() + retryAfterMs(response.headers.get("retry-after")));
        continue;
      }
      if (response.status >= 500) {
        lastProblem = `HTTP ${response.status}`;
        await this.backoff(attempt);
        continue;
      }
      throw new ResendApiError(`${endpoint}: HTTP ${response.status}`, response.status);
    }
    throw new ResendApiError(`${endpoint}: gave up after ${this.options.maxAttempts} attempts (last: ${lastProblem})`);
  }

  private async backoff(attempt: number): Promise<void> {
    if (attempt >= this.options.maxAttempts) return;
    const capped = Math.min(250 * 2 ** (attempt - 1), this.options.maxBackoffMs);
    // Jitter, so runs of several workspaces hitting one outage do not retry in step.
    await new Promise((resolve) => setTimeout(resolve, capped / 2 + Math.random() * (capped / 2)));
  }
}

/** `retry-after` is seconds or an HTTP date (RFC 9110); missing or unreadable: one second. Capped at 5 min. */
export function retryAfterMs(value: string | null, now = Date.now()): number {
  if (value !== null && /^\d+(\.\d+)?$/.test(value.trim())) return Math.min(Number(value) * 1000, 300_000);
  const date = value === null ? Number.NaN : Date.parse(value);
  return Number.isNaN(date) ? 1000 : Math.min(Math.max(date - now, 0), 300_000);
}

async function readJson(response: Response, endpoint: string): Promise<unknown> {
  try {
    return await response.json();
  } catch (error) {
    throw new ResendApiError(`${endpoint}: answer is not JSON`, response.status, { cause: error });
  }
}

function toEmail(raw: unknown): ResendEmail {
  const email = raw as Record<string, unknown>;
  if (typeof email?.id !== "string") throw new ResendApiError("email without a string id");
  const bounce = email.bounce as Record<string, unknown> | undefined | null;
  return {
    id: email.id,
    to: Array.isArray(email.to) ? email.to.filter((to): to is string => typeof to === "string") : [],
    createdAt: typeof email.created_at === "string" ? email.created_at : "",
    ...(typeof email.last_event === "string" && email.last_event ? { lastEvent: email.last_event } : {}),
    ...(bounce && typeof bounce === "object"
      ? { bounce: { type: String(bounce.type ?? ""), subType: String(bounce.subType ?? bounce.sub_type ?? ""), message: String(bounce.message ?? "") } }
      : {}),
  };
}
