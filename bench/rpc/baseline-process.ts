/**
 * Starts baseline-server.ts as its own Node process (like the services, so
 * neither shares the benchmark client's event loop) and waits for its port.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { stopChild } from "../lib/proc.ts";

const here = dirname(fileURLToPath(import.meta.url));

export interface BaselineProcess {
  child: ChildProcess;
  pid: number;
  port: number;
}

/** Spawns the constant-response server for the responses in `responsesFile`; rejects after 15 s. */
export async function startBaselineServer(responsesFile: string, logFile: string): Promise<BaselineProcess> {
  const child = spawn(process.execPath, [join(here, "baseline-server.ts")], {
    env: { ...process.env, BENCH_RPC_RESPONSES: responsesFile },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = createWriteStream(logFile);
  child.stderr!.pipe(out);
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let seen = "";
      const timer = setTimeout(() => reject(new Error("baseline server did not listen within 15 s")), 15_000);
      child.stdout!.on("data", (chunk: Buffer) => {
        seen += chunk.toString("utf8");
        const match = /listening (\d+)/.exec(seen);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`baseline server exited (${code}): ${readFileSync(logFile, "utf8")}`));
      });
    });
    return { child, pid: child.pid!, port };
  } catch (error) {
    await stopChild(child);
    throw error;
  }
}
