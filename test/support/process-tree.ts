/**
 * Processes by pid, from /proc (Linux): whether one still runs, and the tree under one — a gateway primary's
 * workers, a PostgreSQL cluster's backends — for the tests and benchmarks that kill or meter them.
 */
import { readdirSync, readFileSync } from "node:fs";

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The parent pid of every running process. */
function parents(): Map<number, number> {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // The command name (field 2) may hold spaces and parentheses: the parent pid is the second field after it.
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      /* exited */
    }
  }
  return parentOf;
}

/** `root` and every live process below it. */
export function processTree(root: number): Set<number> {
  const parentOf = parents();
  const inTree = new Set([root]);
  // Parents can have larger pids than their children once pids wrap: repeat until nothing is added.
  for (let added = true; added; ) {
    added = false;
    for (const [pid, parent] of parentOf) if (!inTree.has(pid) && inTree.has(parent)) inTree.add(pid), (added = true);
  }
  return inTree;
}

/** The live processes below `root`, without it. */
export function descendantPids(root: number): number[] {
  return [...processTree(root)].filter((pid) => pid !== root);
}
