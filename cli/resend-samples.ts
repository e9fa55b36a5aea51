/**
 * Realistic Resend webhook bodies for every email event type (shapes from
 * Resend's and Svix's public documentation, see DESIGN.md). Used by
 * `ngsreach simulate` and by tests.
 */

export const emailEventTypes = [
  "email.sent",
  "email.delivered",
  "email.delivery_delayed",
  "email.opened",
  "email.clicked",
  "email.bounced",
  "email.complained",
  "email.failed",
  "email.suppressed",
] as const;
export type EmailEventType = (typeof emailEventTypes)[number];

export interface SampleOptions {
  emailId?: string;
  createdAt?: Date;
  to?: string[];
  from?: string;
  subject?: string;
  /** Tags in Resend's documented object form; `tagsAsArray` sends the `[{name, value}]` form. */
  tags?: Record<string, string>;
  tagsAsArray?: boolean;
  bounce?: { type: string; subType: string; message?: string; diagnosticCode?: string };
  click?: { link: string; ipAddress?: string; userAgent?: string; timestamp?: Date };
  failedReason?: string;
  suppressed?: { type: string; message: string };
}

/** A Resend envelope `{type, created_at, data}` for one email event. */
export function sampleEmailEvent(type: EmailEventType | string, options: SampleOptions = {}): Record<string, unknown> {
  const createdAt = options.createdAt ?? new Date();
  const tags = options.tags ?? {};
  const data: Record<string, unknown> = {
    broadcast_id: "8b146471-e88e-4322-86af-016cd36fd216",
    created_at: createdAt.toISOString().replace("Z", "+00:00"),
    email_id: options.emailId ?? "56761188-7520-42d8-8898-ff6fc54ce618",
    from: options.from ?? "Acme <onboarding@resend.dev>",
    to: options.to ?? ["delivered@resend.dev"],
    subject: options.subject ?? "Sending this example",
    template_id: "43f68331-0622-4e15-8202-246a0388854b",
    tags: options.tagsAsArray ? Object.entries(tags).map(([name, value]) => ({ name, value })) : tags,
  };
  if (type === "email.bounced") {
    const bounce = options.bounce ?? { type: "Permanent", subType: "Suppressed" };
    data.bounce = {
      message:
        bounce.message ??
        "The recipient's email address is on the suppression list because it has a recent history of producing hard bounces.",
      subType: bounce.subType,
      type: bounce.type,
      ...(bounce.diagnosticCode ? { diagnosticCode: bounce.diagnosticCode } : {}),
    };
  }
  if (type === "email.clicked") {
    const click = options.click ?? { link: "https://resend.com" };
    data.click = {
      ipAddress: click.ipAddress ?? "122.115.53.11",
      link: click.link,
      timestamp: (click.timestamp ?? createdAt).toISOString(),
      userAgent:
        click.userAgent ??
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3.1 Safari/605.1.15",
    };
  }
  if (type === "email.failed") data.failed = { reason: options.failedReason ?? "reached_daily_quota" };
  if (type === "email.suppressed") {
    data.suppressed = options.suppressed ?? {
      type: "OnAccountSuppressionList",
      message: "Resend has suppressed sending to this address because it is on the account-level suppression list.",
    };
  }
  return { type, created_at: createdAt.toISOString(), data };
}
