/**
 * spawn()'s options, checked before anything runs: each wrong one is one
 * TypeError or RangeError naming it, as Bun.spawn throws for its own; the
 * right ones become the plan spawn() acts on, with Bun.spawn's defaults.
 */
import { describe, expect, test } from "bun:test";
import { checkSpawnOptions, exitedValue, signalCodeOf, signalNumberOf, spawnCall, type SpawnOptions } from "../../src/run/spawn-options.ts";

const wrong = (options: Record<string, unknown>) => options as SpawnOptions;

describe("the standard streams", () => {
  test("default as Bun.spawn's: stdin ignored, stdout piped, stderr inherited", () => {
    expect(checkSpawnOptions(["/bin/true"], undefined)).toMatchObject({
      argv: ["/bin/true"],
      pager: "apager",
      stdin: { kind: "ignore" },
      stdout: { kind: "pipe" },
      stderr: { kind: "inherit" },
      killSignal: 15,
      timeout: null,
    });
  });
  test("null means ignore; a number is a descriptor; bytes come from a Blob, a buffer, a Response or a Request", () => {
    const plan = checkSpawnOptions(["x"], { stdin: null, stdout: null, stderr: 5 });
    expect([plan.stdin, plan.stdout, plan.stderr]).toEqual([{ kind: "ignore" }, { kind: "ignore" }, { kind: "descriptor", fd: 5 }]);
    expect(checkSpawnOptions(["x"], { stdin: 0 }).stdin).toEqual({ kind: "descriptor", fd: 0 });
    for (const stdin of [new Blob(["a"]), new Uint8Array(2), new DataView(new ArrayBuffer(1)), new Response("r"), new Request("http://x/", { method: "POST", body: "q" })]) {
      expect(checkSpawnOptions(["x"], { stdin }).stdin.kind).toBe("bytes");
    }
  });
  test("Bun.file(path) opens the file; a File is a Blob of bytes", () => {
    expect(checkSpawnOptions(["x"], { stdin: Bun.file("/etc/hostname") }).stdin).toEqual({ kind: "file", path: "/etc/hostname" });
    expect(checkSpawnOptions(["x"], { stdin: new File(["a"], "name.txt") }).stdin.kind).toBe("bytes");
  });
  test("anything else is refused, naming the option", () => {
    expect(() => checkSpawnOptions(["x"], wrong({ stdout: "loud" }))).toThrow(new TypeError('options.stdout must be "inherit", "pipe", "ignore", null or a file descriptor, not "loud"'));
    expect(() => checkSpawnOptions(["x"], wrong({ stderr: new Blob(["a"]) }))).toThrow(/options\.stderr must be .* not Blob/);
    expect(() => checkSpawnOptions(["x"], wrong({ stdin: {} }))).toThrow(/options\.stdin must be .* not Object/);
    expect(() => checkSpawnOptions(["x"], { stdout: -1 })).toThrow(/options\.stdout must be a file descriptor \(a whole number, 0 or more\), not -1/);
    expect(() => checkSpawnOptions(["x"], { stdin: 1.5 })).toThrow(TypeError);
    const used = new Response("r");
    void used.text();
    expect(() => checkSpawnOptions(["x"], { stdin: used })).toThrow(/options\.stdin: the body has been read already/);
  });
});

describe("argv, cwd, env", () => {
  test("argv: a non-empty array of strings without NUL bytes (an empty name is the program's business: ENOENT)", () => {
    expect(() => checkSpawnOptions("ls", undefined)).toThrow(/argv must be an array of strings, not "ls"/);
    expect(() => checkSpawnOptions([], undefined)).toThrow(/argv must not be empty/);
    expect(() => checkSpawnOptions(["ls", 3], undefined)).toThrow(/argv\[1\] must be a string, not 3/);
    expect(() => checkSpawnOptions(["ls", "a\0b"], undefined)).toThrow(/argv\[1\] must be a string without null bytes/);
    expect(checkSpawnOptions([""], undefined).argv).toEqual([""]);
  });
  test("cwd: a non-empty path; env: values without NUL bytes, undefined ones left out later", () => {
    expect(() => checkSpawnOptions(["x"], { cwd: "" })).toThrow(/options\.cwd must not be empty/);
    expect(() => checkSpawnOptions(["x"], wrong({ cwd: 7 }))).toThrow(/options\.cwd must be a string, not 7/);
    expect(() => checkSpawnOptions(["x"], { env: { A: "1\0" } })).toThrow(/options\.env\["A"\] must be a string without null bytes/);
    expect(() => checkSpawnOptions(["x"], wrong({ env: "A=1" }))).toThrow(/options\.env must be an object/);
    expect(() => checkSpawnOptions(["x"], { env: { A: undefined, B: "2" } })).not.toThrow();
  });
});

describe("the pagers' options, as the command line checks them", () => {
  test("pager, paging, predictor and pages", () => {
    expect(() => checkSpawnOptions(["x"], wrong({ pager: "zpager" }))).toThrow(/options\.pager must be "apager", "dpager", "hpager", not "zpager"/);
    expect(() => checkSpawnOptions(["x"], { paging: "signal" })).toThrow(/options\.paging applies to dpager and hpager, not apager/);
    expect(() => checkSpawnOptions(["x"], wrong({ pager: "dpager", paging: "magic" }))).toThrow(/options\.paging must be "auto", "signal", "userfaultfd"/);
    expect(() => checkSpawnOptions(["x"], { pager: "dpager", predictor: "next" })).toThrow(/apply to hpager, not dpager/);
    expect(() => checkSpawnOptions(["x"], wrong({ pager: "hpager", predictor: "psychic" }))).toThrow(/options\.predictor must be "next", "stride", "readahead"/);
    for (const pages of [0, 17, 2.5, Number.NaN]) expect(() => checkSpawnOptions(["x"], { pager: "hpager", pages })).toThrow(RangeError);
    expect(checkSpawnOptions(["x"], { pager: "hpager", predictor: "stride", pages: 16, paging: "userfaultfd" }).pager).toBe("hpager");
  });
  test("files are non-empty paths; switches are booleans; callbacks are functions", () => {
    for (const key of ["trace", "html", "report"]) {
      expect(() => checkSpawnOptions(["x"], wrong({ [key]: "" }))).toThrow(new RegExp(`options\\.${key} must not be empty`));
      expect(() => checkSpawnOptions(["x"], wrong({ [key]: "a\0b" }))).toThrow(/without null bytes/);
    }
    expect(() => checkSpawnOptions(["x"], wrong({ quiet: "yes" }))).toThrow(/options\.quiet must be true or false, not "yes"/);
    expect(() => checkSpawnOptions(["x"], wrong({ friendly: 1 }))).toThrow(/options\.friendly must be true or false/);
    for (const key of ["onMapping", "onFault", "onExit"]) expect(() => checkSpawnOptions(["x"], wrong({ [key]: "stderr" }))).toThrow(new RegExp(`options\\.${key} must be a function`));
    expect(() => checkSpawnOptions(["x"], wrong({ log: "stderr" }))).toThrow(/options\.log must be true, false or a function, not "stderr"/);
    for (const log of [true, false, () => {}]) expect(() => checkSpawnOptions(["x"], { log })).not.toThrow();
  });
});

describe("Bun.spawn's two calls and its stdio array", () => {
  test("spawn({ cmd, ...options }) is spawn(cmd, options)", () => {
    expect(spawnCall({ cmd: ["ls", "-l"], cwd: "/" }, undefined)).toEqual({ argv: ["ls", "-l"], options: { cwd: "/" } });
    expect(spawnCall(["ls"], { cwd: "/" })).toEqual({ argv: ["ls"], options: { cwd: "/" } });
    expect(() => spawnCall({ cwd: "/" }, undefined)).toThrow(new TypeError("spawn() takes an argv array, or an options object with cmd, the argv array"));
    expect(() => spawnCall({ cmd: ["ls"] }, { cwd: "/" })).toThrow(/takes no second argument/);
  });
  test("stdio's first three override stdin, stdout and stderr; the rest are descriptors from 3 up", () => {
    const plan = checkSpawnOptions(["x"], { stdin: "pipe", stdout: "ignore", stdio: ["inherit", "pipe", 2, 7, "pipe", "ignore", "inherit", "socket-fd", null] });
    expect([plan.stdin, plan.stdout, plan.stderr]).toEqual([{ kind: "inherit" }, { kind: "pipe" }, { kind: "descriptor", fd: 2 }]);
    expect(plan.extra).toEqual([{ kind: "descriptor", fd: 7 }, { kind: "pipe" }, { kind: "none" }, { kind: "descriptor", fd: 6 }, { kind: "pipe" }, { kind: "none" }]);
    expect(checkSpawnOptions(["x"], { stdio: ["pipe"] as never }).stdout).toEqual({ kind: "pipe" });
    expect(() => checkSpawnOptions(["x"], wrong({ stdio: "pipe" }))).toThrow(/options\.stdio must be an array, not "pipe"/);
    expect(() => checkSpawnOptions(["x"], wrong({ stdio: ["ignore", "pipe", "inherit", "loud"] }))).toThrow(/options\.stdio\[3\] must be "pipe", "socket-fd", "inherit", "ignore", null or a file descriptor, not "loud"/);
    expect(() => checkSpawnOptions(["x"], wrong({ stdio: ["ignore", "pipe", "inherit", -1] }))).toThrow(TypeError);
  });
});

describe("signals, timeout and abort", () => {
  test("a signal by name or number; the name comes back where there is one", () => {
    expect(signalNumberOf("SIGKILL", "s")).toBe(9);
    expect(signalNumberOf(0, "s")).toBe(0);
    expect(signalNumberOf(34, "s")).toBe(34);
    expect(() => signalNumberOf("KILL", "signal")).toThrow(/signal must be a signal name such as "SIGTERM" or "SIGKILL", not "KILL"/);
    expect(() => signalNumberOf("SIGNOPE", "signal")).toThrow(TypeError);
    expect(() => signalNumberOf(65, "signal")).toThrow(RangeError);
    expect(() => signalNumberOf(-1, "signal")).toThrow(RangeError);
    expect(() => signalNumberOf(null, "signal")).toThrow(/signal must be a signal name or number, not null/);
    expect(signalCodeOf(15)).toBe("SIGTERM");
    expect(signalCodeOf(40)).toBe(40);
  });
  test("exited: the exit code, or 128 + the signal's number, as Bun.spawn's", () => {
    expect(exitedValue(3, null)).toBe(3);
    expect(exitedValue(null, 9)).toBe(137);
    expect(exitedValue(0, null)).toBe(0);
  });
  test("timeout: milliseconds from 0; killSignal; signal: an AbortSignal", () => {
    expect(checkSpawnOptions(["x"], { timeout: 0, killSignal: "SIGINT" })).toMatchObject({ timeout: 0, killSignal: 2 });
    for (const timeout of [-1, Number.NaN, 2 ** 31]) expect(() => checkSpawnOptions(["x"], { timeout })).toThrow(RangeError);
    expect(() => checkSpawnOptions(["x"], wrong({ timeout: "1s" }))).toThrow(RangeError);
    expect(() => checkSpawnOptions(["x"], wrong({ signal: { aborted: false } }))).toThrow(/options\.signal must be an AbortSignal/);
    expect(() => checkSpawnOptions(["x"], { signal: AbortSignal.timeout(1000) })).not.toThrow();
  });
});
