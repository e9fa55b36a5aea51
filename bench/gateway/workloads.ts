/**
 * The gateway rows of the benchmark: what each provider's webhooks look like
 * under load, and how the files of them are made. Resend: one event per POST
 * (events.ts). SendGrid: arrays of `batchSize` events per POST, the shape of
 * its Event Webhook under a busy campaign. SES: one event per SNS POST,
 * signed with SignatureVersion 2 (SHA256) and 1 (SHA1) — the two AWS uses.
 */
import type { KeyObject } from "node:crypto";
import type { SnsSigner } from "../../cli/provider-sign.ts";
import { writeRequestFile } from "./events.ts";
import { writeSendgridFile, writeSesFile } from "./provider-requests.ts";
import type { RequestFileInfo } from "./request-file.ts";

export const workloadNames = ["resend", "sendgrid", "ses-v2", "ses-v1"] as const;
export type WorkloadName = (typeof workloadNames)[number];

export interface Workload {
  name: WorkloadName;
  /** As the table prints it. */
  label: string;
  eventsPerRequest: number;
  /** Requests one measured run takes at most (absent: only its time bounds it); warm-ups take their share. */
  maxRequestsPerRun?: number;
  /** Requests of one file at least (more when the next run needs more). */
  fileRequests: number;
  /** A file older than this is rebuilt: inside the provider's timestamp window (SNS has none). */
  maxAgeMs?: number;
  /** Requests/s assumed until a run measured it (sizes the first file). */
  initialRps: number;
  /** Writes `count` distinct requests; `generation` numbers the files, so ids stay distinct across them. */
  write(file: string, count: number, generation: number): RequestFileInfo | Promise<RequestFileInfo>;
}

export interface WorkloadSettings {
  workspaceId: string;
  /** Resend's webhook secret (whsec_…). */
  resendSecret: string;
  resendFileRequests: number;
  sendgridKey: KeyObject;
  sendgridBatchSize: number;
  sendgridRequestsPerRun: number;
  sesSigner: SnsSigner;
  sesRequestsPerRun: number;
  rounds: number;
}

/** Svix and SendGrid accept ±300 s: their files are rebuilt with fresh timestamps before that. */
const timestampedFileMaxAgeMs = 200_000;

/** The workloads, by name. */
export function workloads(settings: WorkloadSettings): Record<WorkloadName, Workload> {
  const { workspaceId } = settings;
  // SNS messages have no timestamp window and cost an RSA signature each (~0.3 ms): one file serves every round.
  const ses = (version: "1" | "2"): Workload => ({
    name: version === "2" ? "ses-v2" : "ses-v1",
    label: `gateway, SES via SNS v${version}`,
    eventsPerRequest: 1,
    maxRequestsPerRun: settings.sesRequestsPerRun,
    fileRequests: Math.ceil(settings.sesRequestsPerRun * (settings.rounds + 0.5)) + 1000,
    initialRps: 6_000,
    write: (file, count, generation) => writeSesFile({ file, count, version, workspaceId, signer: settings.sesSigner, run: `s${version}g${generation}` }),
  });
  return {
    resend: {
      name: "resend",
      label: "gateway, Resend",
      eventsPerRequest: 1,
      fileRequests: settings.resendFileRequests,
      maxAgeMs: timestampedFileMaxAgeMs,
      initialRps: 12_000,
      write: (file, count, generation) => writeRequestFile({ file, count, workspaceId, secret: settings.resendSecret, idPrefix: `p${generation}` }),
    },
    sendgrid: {
      name: "sendgrid",
      label: `gateway, SendGrid ×${settings.sendgridBatchSize}`,
      eventsPerRequest: settings.sendgridBatchSize,
      maxRequestsPerRun: settings.sendgridRequestsPerRun,
      fileRequests: 0,
      maxAgeMs: timestampedFileMaxAgeMs,
      initialRps: 200,
      write: (file, count, generation) =>
        writeSendgridFile({ file, count, batchSize: settings.sendgridBatchSize, workspaceId, privateKey: settings.sendgridKey, run: `g${generation}` }),
    },
    "ses-v2": ses("2"),
    "ses-v1": ses("1"),
  };
}

/** The workloads named in `text` (comma-separated, e.g. BENCH_GATEWAY_ROWS), Resend always first. */
export function parseWorkloadNames(text: string | undefined): WorkloadName[] {
  if (text === undefined) return [...workloadNames];
  const names = text.split(",").map((name) => name.trim()).filter(Boolean);
  const unknown = names.filter((name) => !(workloadNames as readonly string[]).includes(name));
  if (unknown.length > 0) throw new Error(`BENCH_GATEWAY_ROWS: unknown row(s) ${unknown.join(", ")}; known: ${workloadNames.join(", ")}`);
  return workloadNames.filter((name) => name === "resend" || names.includes(name));
}
