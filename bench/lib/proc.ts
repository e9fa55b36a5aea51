/**
 * CPU time and peak memory of another process, read from /proc (Linux):
 * utime+stime from /proc/<pid>/stat, peak resident set (VmHWM) from
 * /proc/<pid>/status. Benchmarks take deltas of CPU time around a measured
 * window, so warm-up and start-up are not counted.
 */
import { execFileSync, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { processTree } from "../../test/support/process-tree.ts";

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU seconds the process used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / clockTicks();
}

/** Peak resident set size in MiB (VmHWM), or NaN if unreadable. */
export function peakRssMiB(pid: number): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds of several processes, sampled together. */
export function sampleCpu(pids: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) out[name] = cpuSeconds(pid);
  return out;
}

/** The pid whose NUL-separated command line matches (read-only scan of /proc). */
export function findPid(match: (cmdline: string) => boolean): number | undefined {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (match(readFileSync(`/proc/${entry}/cmdline`, "latin1"))) return Number(entry);
    } catch {
      /* exited */
    }
  }
  return undefined;
}

/** SIGTERM a benchmark's child process and wait for it (SIGKILL after 20 s). */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  await exited;
  clearTimeout(timer);
}

/** Fields after the command name of /proc/<pid>/stat (index 0 is field 3, the state). */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/**
 * CPU seconds of a process and all its descendants: its own time, the time of every live descendant
 * (found by parent pid in /proc), and cutime+cstime — what the kernel credits a parent with once it has
 * reaped a child — so a PostgreSQL backend that exited inside a window still counts. (Descendants of a
 * descendant that exited before being reaped are lost; PostgreSQL's postmaster reaps its children itself.)
 */
export function treeCpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) {
    try {
      const fields = statFields(pid);
      ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    } catch {
      /* exited between the scan and now: its time moved to its parent's cutime, read above or not */
    }
  }
  return ticks / clockTicks();
}

/**
 * CPU seconds the whole machine spent busy so far (every core, every process: /proc/stat's first line
 * less idle and iowait; steal counts as busy — the hypervisor gave that time to another guest). The machines are shared, so a window's busy cores beside what the benchmark's
 * own processes used tell whether it was bound by the cores or by someone else on them.
 */
export function machineBusySeconds(): number {
  const [, ...values] = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/);
  const ticks = values.slice(0, 8).map(Number); // user nice system idle iowait irq softirq steal
  return (ticks.reduce((sum, t) => sum + t, 0) - ticks[3]! - ticks[4]!) / clockTicks();
}
