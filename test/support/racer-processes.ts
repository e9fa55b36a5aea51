/**
 * Runs the same race in two child processes (own connections, own in-process locks: what two replicas
 * share is only the database). A racer script prints "ready" once connected, waits for "go" on stdin,
 * races, and prints its result as the last line of JSON.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { waitFor } from "../harness.ts";

/** Starts one racer per argument list, releases them together, and returns their results in order. */
export async function raceProcesses<T>(script: string, argsPerRacer: readonly string[][]): Promise<T[]> {
  const racers = argsPerRacer.map((args) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    const lines: string[] = [];
    let stderr = "";
    createInterface({ input: child.stdout }).on("line", (line) => lines.push(line));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
    return { child, lines, closed, stderr: () => stderr };
  });
  try {
    const gone = await waitFor(() => (racers.every((r) => r.lines[0] === "ready") ? "ready" : racers.find((r) => r.child.exitCode !== null)), {
      what: "every racer process to connect",
    });
    if (gone !== "ready") throw new Error(`a racer exited early: ${gone.stderr()}`);
    for (const racer of racers) racer.child.stdin.end("go\n");
    await Promise.all(racers.map((r) => r.closed));
    return racers.map((r) => {
      if (r.child.exitCode !== 0) throw new Error(`a racer failed (${r.child.exitCode}): ${r.stderr()}`);
      return JSON.parse(r.lines.at(-1)!) as T;
    });
  } finally {
    for (const racer of racers) if (racer.child.exitCode === null) racer.child.kill("SIGKILL");
  }
}
