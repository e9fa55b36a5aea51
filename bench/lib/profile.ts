/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time per
 * function, and total (inclusive) time of a few named frames, so a benchmark
 * can print where the server spent its CPU.
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface ProfileSummary {
  totalMs: number;
  /** Share of samples per function (self time), highest first. */
  self: { frame: string; percent: number }[];
  /** Share of samples per source file (self time), highest first. */
  byFile: { file: string; percent: number }[];
}

const shortUrl = (url: string) => url.replace(/^file:\/\//, "").replace(/^.*\/(node_modules|services|gen)\//, "$1/") || "(native)";

/** Reads a .cpuprofile and returns the top `limit` functions and files by self time. */
export function summariseProfile(path: string, limit = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, "utf8")) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const timeOf = new Map<number, number>();
  profile.samples.forEach((id, i) => timeOf.set(id, (timeOf.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  let total = 0;
  const idle = new Set(["(idle)", "(program)"]);
  const self = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const node of profile.nodes) {
    const time = timeOf.get(node.id) ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    if (idle.has(functionName)) continue;
    total += time;
    const frame = `${functionName || "(anonymous)"} ${shortUrl(url)}:${lineNumber + 1}`;
    self.set(frame, (self.get(frame) ?? 0) + time);
    const file = shortUrl(url);
    byFile.set(file, (byFile.get(file) ?? 0) + time);
  }
  const top = (map: Map<string, number>) =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, limit).map(([name, time]) => [name, Number(((100 * time) / total).toFixed(1))] as const);
  return {
    totalMs: total / 1000,
    self: top(self).map(([frame, percent]) => ({ frame, percent })),
    byFile: top(byFile).map(([file, percent]) => ({ file, percent })),
  };
}
