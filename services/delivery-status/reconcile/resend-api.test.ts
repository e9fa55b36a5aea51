import { afterEach, describe, expect, it } from "vitest";
import { startResendApiStandIn, type ResendApiStandIn, type StandInEmail } from "../../../test/support/resend-api-stand-in.ts";
import { seededRandom } from "../../../test/seeded-random.ts";
import { KeyRateLimiter } from "./rate-limiter.ts";
import { loadResendApiSettings } from "./reconcile-settings.ts";
import { ResendApi, ResendApiError, ResendAuthError, retryAfterMs } from "./resend-api.ts";

const emailsOf = (count: number): StandInEmail[] =>
  Array.from({ length: count }, (_, i) => ({
    id: `00000000-0000-4000-8000-${String(count - i).padStart(12, "0")}`,
    to: [`user${i}@example.com`],
    created_at: new Date(Date.UTC(2026, 11, 1) - i * 1000).toISOString(),
    last_event: i % 3 === 0 ? "bounced" : "delivered",
    ...(i % 3 === 0 ? { bounce: { type: "Permanent", subType: "General", message: "mailbox does not exist" } } : {}),
  }));

/** Most requests seen in any one-second sliding window. */
const busiestSecond = (times: number[]) => Math.max(...times.map((start) => times.filter((at) => at >= start && at < start + 1000).length));

describe("the Resend API client", () => {
  let standIn: ResendApiStandIn | undefined;
  afterEach(async () => {
    await standIn?.close();
    standIn = undefined;
  });
  const clientFor = (running: ResendApiStandIn, rate: number, overrides: { apiKey?: string; maxAttempts?: number } = {}) =>
    new ResendApi({ baseUrl: running.baseUrl, apiKey: running.apiKey, limiter: new KeyRateLimiter(rate), ...overrides });

  it("reads an email with its last event and bounce, and answers undefined for one Resend does not know", async () => {
    standIn = await startResendApiStandIn({ emails: emailsOf(3), ratePerSecond: 50 });
    const api = clientFor(standIn, 50);
    const [bounced] = standIn.emails;
    expect(await api.getEmail(bounced!.id)).toEqual({
      id: bounced!.id,
      to: bounced!.to,
      createdAt: bounced!.created_at,
      lastEvent: "bounced",
      bounce: { type: "Permanent", subType: "General", message: "mailbox does not exist" },
    });
    expect(await api.getEmail("no-such-email")).toBeUndefined();
  });

  it("lists every email through cursor paging, 100 a page at most", async () => {
    standIn = await startResendApiStandIn({ emails: emailsOf(250), ratePerSecond: 50 });
    const api = clientFor(standIn, 50);
    const seen: string[] = [];
    for await (const email of api.allEmails()) seen.push(email.id);
    expect(seen).toEqual(standIn.emails.map((email) => email.id));
    expect(standIn.requests.map((request) => request.path)).toEqual([
      "/emails?limit=100",
      `/emails?limit=100&after=${standIn.emails[99]!.id}`,
      `/emails?limit=100&after=${standIn.emails[199]!.id}`,
    ]);
  });

  it("keeps to the rate per key, however many callers share the key", async () => {
    standIn = await startResendApiStandIn({ emails: emailsOf(4), ratePerSecond: 2 });
    const limiter = new KeyRateLimiter(2);
    const callers = [0, 1, 2].map(() => new ResendApi({ baseUrl: standIn!.baseUrl, apiKey: standIn!.apiKey, limiter }));
    const ids = standIn.emails.map((email) => email.id);
    await Promise.all(callers.flatMap((api) => ids.slice(0, 2).map((id) => api.getEmail(id))));
    const times = standIn.requests.map((request) => request.atMs);
    expect(times).toHaveLength(6); // no 429 was needed: the limiter spaced the calls
    expect(busiestSecond(times)).toBeLessThanOrEqual(3); // 2 a second, plus one at a window's edge
    expect(standIn.requests.every((request) => request.status === 200)).toBe(true);
  });

  it("waits out a 429's retry-after, then succeeds", async () => {
    standIn = await startResendApiStandIn({ emails: emailsOf(1), ratePerSecond: 50 });
    standIn.fail429(2, 1);
    const api = clientFor(standIn, 50);
    expect((await api.getEmail(standIn.emails[0]!.id))?.lastEvent).toBe("bounced");
    const [first, second, third] = standIn.requests;
    expect(standIn.requests.map((request) => request.status)).toEqual([429, 429, 200]);
    expect(second!.atMs - first!.atMs).toBeGreaterThanOrEqual(950);
    expect(third!.atMs - second!.atMs).toBeGreaterThanOrEqual(950);
  });

  it("retries a 500 with backoff, and gives up with ResendApiError when it keeps failing", async () => {
    standIn = await startResendApiStandIn({ emails: emailsOf(1), ratePerSecond: 50 });
    standIn.fail500(2);
    const api = clientFor(standIn, 50, { maxAttempts: 4 });
    expect((await api.getEmail(standIn.emails[0]!.id))?.id).toBe(standIn.emails[0]!.id);
    expect(standIn.requests.map((request) => request.status)).toEqual([500, 500, 200]);

    standIn.fail500(10);
    const error = await api.getEmail(standIn.emails[0]!.id).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ResendApiError);
    // The endpoint without the email id: a run counts failures by reason, and one outage is one reason.
    expect((error as Error).message).toBe("GET /emails/{id}: gave up after 4 attempts (last: HTTP 500)");
  });

  it("lists everything through a 500 now and then", async () => {
    standIn = await startResendApiStandIn({ emails: emailsOf(450), ratePerSecond: 50 });
    standIn.set500Rate(0.3, seededRandom(16));
    const seen: string[] = [];
    for await (const email of clientFor(standIn, 50).allEmails()) seen.push(email.id);
    expect(seen).toEqual(standIn.emails.map((email) => email.id));
    expect(standIn.requests.some((request) => request.status === 500)).toBe(true);
  });

  it("stops at once on a wrong or revoked key, naming its fingerprint and never the key", async () => {
    standIn = await startResendApiStandIn({ emails: emailsOf(1), ratePerSecond: 50 });
    const wrongKey = "re_wrong_key_0123456789";
    const wrong = await clientFor(standIn, 50, { apiKey: wrongKey }).listEmails().catch((caught: unknown) => caught);
    expect(wrong).toBeInstanceOf(ResendAuthError);
    expect((wrong as ResendAuthError).status).toBe(403);
    expect(String(wrong)).not.toContain(wrongKey);

    standIn.revokeKey(true);
    const before = standIn.requests.length;
    await expect(clientFor(standIn, 50).getEmail(standIn.emails[0]!.id)).rejects.toBeInstanceOf(ResendAuthError);
    expect(standIn.requests.length - before).toBe(1); // not retried
  });

  it("reads retry-after as seconds or a date, and its settings from the environment", () => {
    expect(retryAfterMs("2")).toBe(2000);
    expect(retryAfterMs(null)).toBe(1000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 7_000)).toBe(3000);
    expect(loadResendApiSettings({})).toEqual({ baseUrl: "https://api.resend.com", requestsPerSecond: 2 });
    expect(loadResendApiSettings({ RESEND_API_BASE_URL: "http://127.0.0.1:9/", RESEND_API_RATE: "5" })).toEqual({ baseUrl: "http://127.0.0.1:9", requestsPerSecond: 5 });
    expect(() => loadResendApiSettings({ RESEND_API_RATE: "0" })).toThrow(/RESEND_API_RATE/);
    expect(() => loadResendApiSettings({ RESEND_API_BASE_URL: "ftp://x" })).toThrow(/RESEND_API_BASE_URL/);
  });
});
