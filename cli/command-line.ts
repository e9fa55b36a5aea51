/**
 * The command line's flags, usage text and the small readers every command
 * shares (a required flag, --limit, --json). Commands get the parsed line and
 * read what they need; ngsreach.ts only picks the command.
 */
import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { parseArgs } from "node:util";
import type { Env } from "../services/shared/config.ts";
import { localSnsCertificatePrefix } from "./local-sns.ts";
import { UsageError } from "./usage-error.ts";

export const usage = `usage:
  ngsreach doctor        --workspace ID   (why no events? every check ok/warn/fail with its fix; exit 1 on a fail)
  ngsreach send          EMAIL_ID --workspace ID [--provider P]   (a send's state and its timeline)
  ngsreach sends         --workspace ID --campaign C [--status S] [--subscriber ID] [--limit N] [--page-token T]
  ngsreach stats         --workspace ID --campaign C [--watch]   (--watch: live, until Ctrl-C)
  ngsreach deliverability --workspace ID [--days N] [--until TIME]   (last N UTC days to today or TIME, 7 unless
                         given, at most 90, per mailbox provider; complaint rates marked at the bulk-sender limits)
  ngsreach suppressions check  --workspace ID ADDRESS...
  ngsreach suppressions list   --workspace ID [--reason R] [--limit N] [--page-token T]
  ngsreach suppressions add    ADDRESS --workspace ID --note WHY [--reason manual|bounced|complained] [--subscriber ID]
  ngsreach suppressions remove ADDRESS --workspace ID --note WHY
      reads print tables; --json prints the RPC's JSON instead (--watch: one JSON object per line)
  ngsreach secret set    --workspace ID [--secret CREDENTIAL | --secret -] [--provider P] [--actor WHO] [--note WHY]
  ngsreach secret rotate --workspace ID [--secret CREDENTIAL | --secret -] [--provider P] [--ttl SECONDS] [--actor WHO] [--note WHY]
  ngsreach secret remove --workspace ID [--provider P] [--all] [--actor WHO] [--note WHY]
      --provider resend (default), ses, sendgrid, postmark or mailgun; --secret is then that provider's
      credential: SNS topic ARN(s), verification key, username:password, or signing key.
      --secret - reads it from standard input; without --secret it is asked for on the terminal (not echoed),
      so it stays out of shell history
  ngsreach simulate      --workspace ID [--provider P] [--setup] [--secret CREDENTIAL | --key-file PEM] [--url GATEWAY_URL]
      one signed sample event of every type provider P reports (default resend), all for one new email, to
      /webhooks/P; prints each answer. --setup first sets a fresh test credential for P on the workspace
      (replacing the one it has: use a test workspace), or the one given. Without --setup, give the workspace's:
      --secret whsec_... (resend), the signing key (mailgun), username:password (postmark), a topic ARN (ses),
      or --key-file with the P-256 private key whose public key the workspace holds (sendgrid).
      ses: signed with a self-signed certificate served on SNS_EXTRA_CERT_URL_PREFIX (default
      ${localSnsCertificatePrefix}, the prefix npm start lets its gateway accept); needs openssl
  ngsreach health        --workspace ID
  ngsreach apikey set    --workspace ID [--key -] [--provider resend] [--actor WHO] [--note WHY]
  ngsreach apikey remove --workspace ID [--provider resend] [--actor WHO] [--note WHY]
      the API key reconciliation asks the provider with (only resend for now); --key - reads it from
      standard input, without --key it is asked for on the terminal (not echoed); only its fingerprint is shown
  ngsreach reconcile     --workspace ID [--campaign C] [--since TIME] [--until TIME] [--id RUN]
      asks Resend's API (the workspace's API key) about every send selected and publishes the events whose
      webhooks never came; shows progress until the run ends (Ctrl-C stops watching, not the run); --id
      follows a run already started (a sweep's, a silence's); TIME is RFC 3339 (2026-12-01T00:00:00Z)
  ngsreach erase         --workspace ID (--email ADDRESS | --subscriber-id S) --actor WHO --note WHY [--purge-stream]
                         [--no-wait] [--timeout 10m] [--json]
  ngsreach erase         --workspace ID --erasure-id ID [--timeout 10m] [--json]
      erases a subscriber's personal data in every service (GDPR art. 17), then shows each service's part
      until all are done (exit 0); a service that is down applies it when it comes back: exit 1 after
      --timeout (90s, 10m, 1h), Ctrl-C stops watching (not the erasure); --erasure-id follows one already
      asked for; --purge-stream also deletes the subscriber's messages from the streams now
  ngsreach export-subscriber --workspace ID (--email ADDRESS | --subscriber-id S) [--output FILE]
      everything the services hold about a subscriber (GDPR art. 15), one JSON object per line; --output
      FILE appears only complete
  ngsreach secrets reencrypt [--page-token T] [--actor WHO] [--note WHY]   (every secret sealed under SECRETS_KEY's first key)
  ngsreach audit         --workspace ID [--limit N]   (newest first, 50 unless given, at most 10000)
  ngsreach dead-letters list   [--consumer NAME]
  ngsreach dead-letters replay --consumer NAME (--all | --seq N[,N...])
environment: GATEWAY_URL, DELIVERY_STATUS_URL, CAMPAIGN_STATS_URL, SUPPRESSION_URL (or their *_PORT, as npm start
  takes them; loopback by default), INTERNAL_TOKEN, NATS_URL (doctor, dead-letters), NGSREACH_WEBHOOK_SECRET
  (secret, simulate), SNS_EXTRA_CERT_URL_PREFIX (simulate --provider ses)`;

const options = {
  workspace: { type: "string" },
  secret: { type: "string" },
  key: { type: "string" },
  provider: { type: "string" },
  url: { type: "string" },
  setup: { type: "boolean", default: false },
  "key-file": { type: "string" },
  ttl: { type: "string" },
  all: { type: "boolean", default: false },
  consumer: { type: "string" },
  seq: { type: "string" },
  "page-token": { type: "string" },
  limit: { type: "string" },
  actor: { type: "string" },
  note: { type: "string", default: "" },
  campaign: { type: "string" },
  days: { type: "string" },
  since: { type: "string" },
  until: { type: "string" },
  id: { type: "string" },
  status: { type: "string" },
  subscriber: { type: "string" },
  reason: { type: "string" },
  // Lists, so that a repeated one is refused rather than the last silently winning (erase, export-subscriber).
  email: { type: "string", multiple: true },
  "subscriber-id": { type: "string", multiple: true },
  "erasure-id": { type: "string" },
  "purge-stream": { type: "boolean", default: false },
  "no-wait": { type: "boolean", default: false },
  timeout: { type: "string" },
  output: { type: "string" },
  watch: { type: "boolean", default: false },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

type Parsed = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>;
export type Flags = Parsed["values"];

/** One parsed command line. */
export interface CommandLine {
  readonly flags: Flags;
  /** The command, its action and arguments (`suppressions check a@x b@y`). */
  readonly positionals: readonly string[];
  /** The environment, with GATEWAY_URL from --url when given. */
  readonly env: Env;
  /** Who the audit entries name (--actor, else $USER). */
  readonly actor: string;
}

export function parseCommandLine(args: string[], env: Env = process.env): CommandLine {
  let parsed: Parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const flags = parsed.values;
  return {
    flags,
    positionals: parsed.positionals,
    env: flags.url ? { ...env, GATEWAY_URL: flags.url } : env,
    actor: flags.actor ?? env.USER ?? "cli",
  };
}

/** A flag the command cannot do without. */
export function requireFlag(line: CommandLine, name: "workspace" | "campaign" | "consumer", why = ""): string {
  const value = line.flags[name];
  if (!value) throw new UsageError(`--${name} is required${why}`);
  return value;
}

/** --limit: how many entries to read (page after page), `fallback` unless given, at most 10000. */
export function limitOf(line: CommandLine, fallback = 50): number {
  const limit = line.flags.limit === undefined ? fallback : Number(line.flags.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError("--limit must be a whole number from 1 to 10000");
  return limit;
}

/** The arguments after the command and its action (`ngsreach suppressions check a b` -> [a, b]). */
export const argumentsAfter = (line: CommandLine, count: number): readonly string[] => line.positionals.slice(count);

/** A flag holding an RFC 3339 time, or undefined when not given. */
export function timeFlag(line: CommandLine, name: "since" | "until"): Timestamp | undefined {
  const value = line.flags[name];
  if (value === undefined) return undefined;
  const date = /^\d{4}-\d{2}-\d{2}T/.test(value) ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) throw new UsageError(`--${name} must be an RFC 3339 time such as 2026-12-01T00:00:00Z`);
  return timestampFromDate(date);
}
