import { describe, expect, it } from "vitest";
import { KnownWorkspaces } from "./known-workspaces.ts";

describe("the list of known workspaces", () => {
  it("treats every id as possibly existing until listed, then only the listed and added ones", () => {
    const known = new KnownWorkspaces(10);
    expect(known.mayExist("anything")).toBe(true);
    known.add("ws1");
    known.markListed();
    expect(known.complete).toBe(true);
    expect(known.mayExist("ws1")).toBe(true);
    expect(known.mayExist("anything")).toBe(false);
    known.add("ws2");
    expect(known.mayExist("ws2")).toBe(true);
  });

  it("gives up, and treats every id as possibly existing again, past its bound", () => {
    const known = new KnownWorkspaces(3);
    for (const id of ["a", "b", "c", "d"]) known.add(id);
    known.markListed();
    expect(known.complete).toBe(false);
    expect(known.size).toBe(0);
    expect(known.mayExist("anything")).toBe(true);
  });
});
