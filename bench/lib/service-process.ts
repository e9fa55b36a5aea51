/**
 * A service of this repository as its own Node process on a free port, as
 * benchmarks start them: `services/<name>/main.ts` with the given environment,
 * its output in `<dir>/<label>.log`, resolved once `/healthz` answers.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, repoRoot } from "../../tools/local-servers.ts";
import { stopChild } from "./proc.ts";

export interface Proc {
  /** The label (the service's name, or e.g. "campaign-stats 2" for a second instance). */
  name: string;
  child: ChildProcess;
  pid: number;
  port: number;
  logFile: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts `services/<name>/main.ts` with `portVariable` set to a free port (healthy within 30 s, or fails). */
export async function startProcess(dir: string, name: string, portVariable: string, extraEnv: Record<string, string>, label = name): Promise<Proc> {
  const port = await freePort();
  const logFile = join(dir, `${label.replaceAll(" ", "-")}.log`);
  const out = createWriteStream(logFile);
  const child = spawn(process.execPath, [join(repoRoot, "services", name, "main.ts")], {
    cwd: repoRoot,
    env: { ...process.env, GATEWAY_PROCESSES: "1", ...extraEnv, [portVariable]: String(port) }, // workers only when a benchmark asks
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  const proc = { name: label, child, pid: child.pid!, port, logFile };
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${label} exited: ${readFileSync(logFile, "utf8")}`);
    if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) return proc;
    await sleep(100);
  }
  await stopChild(child);
  throw new Error(`${label} not healthy within 30 s: ${readFileSync(logFile, "utf8")}`);
}
