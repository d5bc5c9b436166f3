import { describe, expect, test } from "bun:test";
import { ignoredPrivilege } from "../../src/loader/launch.ts";

describe("set-user-ID and set-group-ID bits a pager does not honour", () => {
  const file = (mode: number, uid = 65534, gid = 65534) => ({ path: "/x/prog", mode: 0o100000 | mode, uid, gid });
  test("both bits, naming other IDs: one note naming both", () => {
    expect(ignoredPrivilege(file(0o6755), 0, 0)).toBe(
      "/x/prog is set-user-ID (uid 65534) and set-group-ID (gid 65534); it runs with your own user and group IDs, as from a nosuid mount: a pager gains no privilege",
    );
  });
  test("bits that would change nothing say nothing", () => {
    expect(ignoredPrivilege(file(0o755), 0, 0)).toBeNull();
    expect(ignoredPrivilege(file(0o6755, 1000, 1000), 1000, 1000)).toBeNull();
  });
  test("set-group-ID without group execute permission is mandatory locking, not a group", () => {
    expect(ignoredPrivilege(file(0o2705, 0), 0, 0)).toBeNull();
    expect(ignoredPrivilege(file(0o4705), 0, 0)).toMatch(/is set-user-ID \(uid 65534\); it runs/);
  });
});
