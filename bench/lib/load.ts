/**
 * Drives a server with pre-built requests: `wrk` (found on PATH; installed
 * from Debian with apt-get when running as root and BENCH_INSTALL_WRK is not
 * "0") or, failing that, the Node fallback in node-load.ts. Both replay the
 * same request file in the same closed loop and report the same figures.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cpuSeconds } from "./proc.ts";

const here = dirname(fileURLToPath(import.meta.url));

export interface LoadResult {
  generator: string;
  requests: number;
  durationS: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  errors: number;
  /** Requests taken from the file (next run starts after them). */
  sent: number;
  /** CPU seconds the generator used (last sample before it exited). */
  generatorCpuSeconds: number;
  /** Times the file ran out and started over (repeats: the dedupe path would be measured). */
  wrapped: number;
}

export interface LoadOptions {
  port: number;
  file: string;
  start: number;
  connections: number;
  seconds: number;
  /**
   * At most this many requests are taken from the file (0 or absent: only the time bounds the run, and the
   * file wraps). The run ends when the first of the two bounds is reached; its duration is the time it ran.
   */
  limit?: number;
  /** Receives the generator's pid once it runs (to sample its CPU). */
  onStart?: (pid: number) => void;
}

let generator: { kind: "wrk"; bin: string } | { kind: "node" } | undefined;

function findWrk(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":")) if (dir && existsSync(join(dir, "wrk"))) return join(dir, "wrk");
  return undefined;
}

/** Finds (or installs) wrk once; otherwise picks the Node generator. */
export function loadGenerator(log: (line: string) => void = console.log): string {
  if (generator) return generator.kind;
  let bin = process.env.BENCH_GENERATOR === "node" ? undefined : findWrk();
  if (!bin && process.env.BENCH_GENERATOR !== "node" && process.env.BENCH_INSTALL_WRK !== "0" && process.getuid?.() === 0 && existsSync("/usr/bin/apt-get")) {
    log("wrk not found: installing it with apt-get (set BENCH_INSTALL_WRK=0 to skip)");
    try {
      execFileSync("apt-get", ["install", "-y", "-q", "wrk"], { stdio: "ignore", timeout: 120_000 });
    } catch {
      try {
        execFileSync("apt-get", ["update", "-q"], { stdio: "ignore", timeout: 120_000 });
        execFileSync("apt-get", ["install", "-y", "-q", "wrk"], { stdio: "ignore", timeout: 120_000 });
      } catch {
        /* falls back below */
      }
    }
    bin = findWrk();
  }
  if (bin) generator = { kind: "wrk", bin };
  else {
    log("wrk not available: using the Node load generator (bench/lib/node-load.ts); figures are lower-bounded by it");
    generator = { kind: "node" };
  }
  return generator.kind;
}

/** Runs one bounded load (bounded in time, and in count when `limit` is set). */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  loadGenerator();
  const limit = options.limit ?? 0;
  const args =
    generator!.kind === "wrk"
      ? ["-t1", `-c${options.connections}`, `-d${options.seconds}s`, "--timeout", "5s", "-s", join(here, "requests.lua"),
         `http://127.0.0.1:${options.port}/`, "--", options.file, String(options.start), String(limit)]
      : [join(here, "node-load.ts"), String(options.port), options.file, String(options.start), String(options.connections), String(options.seconds), String(limit)];
  const bin = generator!.kind === "wrk" ? generator!.bin : process.execPath;
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "inherit"] });
  if (child.pid) options.onStart?.(child.pid);
  let generatorCpuSeconds = Number.NaN;
  const sampler = setInterval(() => {
    try {
      generatorCpuSeconds = cpuSeconds(child.pid!);
    } catch {
      /* exited */
    }
  }, 250);
  let out = "";
  let interrupted = false;
  child.stdout.on("data", (chunk) => {
    out += chunk;
    // wrk sleeps out its whole -d even once its thread stopped at the limit: interrupting it ends the run there.
    if (!interrupted && generator!.kind === "wrk" && out.includes("BENCH_LIMIT")) interrupted = child.kill("SIGINT");
  });
  const killer = setTimeout(() => child.kill("SIGKILL"), (options.seconds + 60) * 1000);
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  clearTimeout(killer);
  clearInterval(sampler);
  const line = /BENCH_JSON (\{.*\})/.exec(out);
  if (!line) throw new Error(`load generator failed (exit ${code}):\n${out}`);
  const raw = JSON.parse(line[1]!);
  const durationS = raw.durationUs / 1e6;
  return {
    generator: generator!.kind === "wrk" ? "wrk" : "node",
    requests: raw.requests,
    durationS,
    rps: raw.requests / durationS,
    p50Ms: raw.p50Us / 1000,
    p90Ms: raw.p90Us / 1000,
    p99Ms: raw.p99Us / 1000,
    maxMs: raw.maxUs / 1000,
    non2xx: raw.non2xx,
    errors: raw.errors,
    sent: raw.sent,
    generatorCpuSeconds,
    wrapped: raw.wrapped,
  };
}
