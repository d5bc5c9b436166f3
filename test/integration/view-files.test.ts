/**
 * The files behind the run page, without a browser: --html refused up
 * front when its path cannot be written (the program never starts), a
 * failure to write it afterwards a warning that keeps the program's exit
 * status, the same for run()'s `html`; the looks at predicted pages in the
 * trace and the report; and `bun run view`'s refusals.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunReport } from "../../src/run/report.ts";
import { judgePredictions, predictedPages } from "../../src/view/predictions.ts";
import { pageData } from "../../src/view/page.ts";
import { parseTrace } from "../../src/view/trace.ts";
import { buildProgram, ROOT } from "../support/programs.ts";
import { runPager, runProcess } from "../support/run.ts";

setDefaultTimeout(60_000);

let dir = "";
let bssTouch = "";
let exitCode = "";

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "faultline-view-files-"));
  [bssTouch, exitCode] = await Promise.all([buildProgram("bss_touch.c", "static"), buildProgram("exit_code.c", "static")]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function view(args: string[]) {
  return runProcess([process.execPath, `${ROOT}/src/cli/view.ts`, ...args]);
}

describe("--html: a path that cannot be written is refused before the program starts", () => {
  const cases = [
    { what: "a missing directory", path: () => join(dir, "no", "such", "page.html"), reason: "no such directory (ENOENT)" },
    { what: "a directory", path: () => dir, reason: "it is a directory (EISDIR)" },
    { what: "a path through a file", path: () => join(bssTouch, "page.html"), reason: "a part of the path is not a directory (ENOTDIR)" },
  ];
  for (const pager of ["apager", "dpager", "hpager"]) {
    for (const c of cases) {
      test(`${pager}, ${c.what}: one line naming the option and the path, exit 2`, async () => {
        // bss_touch prints a line when it runs: nothing may come out.
        const ran = await runPager(pager, [bssTouch, "one"], { flags: ["-q", "--html", c.path()] });
        expect(ran.stdout).toBe("");
        expect(ran.stderr).toBe(`${pager}: --html ${c.path()}: cannot write: ${c.reason}\n`);
        expect(ran.exitCode).toBe(2);
      });
    }
  }
});

test("--trace: a path that cannot be written is refused the same way", async () => {
  const path = join(dir, "no", "trace.jsonl");
  const ran = await runPager("hpager", [bssTouch, "one"], { flags: ["-q", "--trace", path, "--html", join(dir, "with-trace.html")] });
  expect(ran).toMatchObject({ stdout: "", stderr: `hpager: --trace ${path}: cannot write: no such directory (ENOENT)\n`, exitCode: 2 });
  // The page it would have gone with is not left behind either.
  expect(existsSync(join(dir, "with-trace.html"))).toBe(false);
});

describe("--html: a failure to write after the run", () => {
  test("is one warning line, and the exit status stays the program's", async () => {
    // /dev/full opens for writing and refuses every byte (ENOSPC).
    for (const pager of ["apager", "dpager"]) {
      const ran = await runPager(pager, [exitCode, "7"], { flags: ["-q", "--html", "/dev/full"] });
      expect(ran.exitCode).toBe(7);
      expect(ran.stderr).toBe(`${pager}: warning: --html /dev/full: cannot write: no space left on the device (ENOSPC); the run itself is unaffected\n`);
    }
  });

  test("a program that cannot be run leaves no page behind", async () => {
    const page = join(dir, "never.html");
    const ran = await runPager("dpager", [join(dir, "missing-program")], { flags: ["-q", "--html", page] });
    expect(ran.exitCode).toBe(127);
    expect(ran.stderr.trim().split("\n")).toHaveLength(1);
    expect(existsSync(page)).toBe(false);
  });
});

describe("run()'s html option", () => {
  const script = (html: string, onStart = "") =>
    `import { run, OutputError } from "${ROOT}/src/index.ts";
     let started = false;
     try {
       const report = await run(["${exitCode}", "5"], { pager: "hpager", quiet: true, html: ${JSON.stringify(html)}, onStart: () => { started = true; ${onStart} } });
       console.log(JSON.stringify({ exitCode: report.exitCode, started }));
     } catch (error) {
       console.log(JSON.stringify({ error: error instanceof OutputError ? error.message : String(error), started }));
     }`;

  test("a path that cannot be written rejects before the program starts", async () => {
    const file = join(dir, "run-refused.ts");
    const page = join(dir, "no-dir", "p.html");
    writeFileSync(file, script(page));
    const ran = await runProcess([process.execPath, file]);
    expect(JSON.parse(ran.stdout)).toEqual({ error: `html ${page}: cannot write: no such directory (ENOENT)`, started: false });
  });

  test("writes the page once the program has ended", async () => {
    const file = join(dir, "run-page.ts");
    const page = join(dir, "run.html");
    writeFileSync(file, script(page));
    const ran = await runProcess([process.execPath, file]);
    expect(JSON.parse(ran.stdout)).toEqual({ exitCode: 5, started: true });
    const shown = pageData(readFileSync(page, "utf8")).runs[0]!.summary;
    expect(shown).toMatchObject({ pager: "hpager", exit: "exit 5", program: exitCode });
  });
});

describe("looks at predicted pages", () => {
  test("go into the trace after the faults, and their judgement into the report", async () => {
    const trace = join(dir, "looks.jsonl");
    const report = join(dir, "looks.json");
    const ran = await runPager("hpager", [bssTouch, "seq", "4096"], { flags: ["-q", "--paging", "signal", "--trace", trace, "--report", report] });
    expect(ran.exitCode).toBe(0);
    const lines = readFileSync(trace, "utf8").trim().split("\n");
    const firstLook = lines.findIndex((l) => l.includes('"kind":"look"'));
    expect(firstLook).toBeGreaterThan(0);
    expect(lines.slice(firstLook).every((l) => l.includes('"kind":"look"'))).toBe(true);
    const parsed = parseTrace(lines.join("\n"));
    const r = JSON.parse(readFileSync(report, "utf8")) as RunReport;
    expect(r.predictions).toEqual(judgePredictions(predictedPages(parsed.events), parsed.looks, "touched").summary);
    // A sequential scan touches the page after each fault soon after it is
    // mapped: of the predictions a later look could judge, most are seen
    // paying off. (How many a look comes after depends on how often the
    // watcher runs, which a loaded machine slows: those are "unknown".)
    const judged = r.predictions!.touched + r.predictions!.untouched;
    expect(judged).toBeGreaterThan(0);
    expect(r.predictions!.touched).toBeGreaterThan(judged / 2);
  });

  test("never judge touched a page the program never touches, under the default mechanism too", async () => {
    // bss_touch stride 4 touches pages 0, 4, 8, ... of its array; the next
    // predictor maps 1, 5, 9, ..., which nothing touches.
    const trace = join(dir, "stride.jsonl");
    const report = join(dir, "stride.json");
    expect((await runPager("hpager", [bssTouch, "stride", "4"], { flags: ["-q", "--predict", "next", "--trace", trace, "--report", report] })).exitCode).toBe(0);
    const r = JSON.parse(readFileSync(report, "utf8")) as RunReport;
    const parsed = parseTrace(readFileSync(trace, "utf8"));
    const predicted = predictedPages(parsed.events);
    const judged = judgePredictions(predicted, parsed.looks, r.paging === "userfaultfd" ? "written" : "touched");
    expect(r.predictions).toEqual(judged.summary);
    const big = Number(`0x${/([0-9a-f]+) B big$/m.exec((await runProcess(["nm", bssTouch])).stdout)![1]}`);
    const inBig = predicted.map((p, i) => ({ index: (p.page - big) / 4096, verdict: judged.verdicts[i] })).filter((p) => p.index >= 0 && p.index < 65536);
    // Page 0 is predicted by a fault just below the array, and touched.
    expect(inBig.length).toBeGreaterThan(10_000);
    expect(inBig.filter((p) => p.index % 4 !== 0 && p.verdict === "touched")).toEqual([]);
    // Under SIGSEGV paging the looks say so; under userfaultfd they cannot.
    if (r.paging === "signal") expect(inBig.filter((p) => p.verdict === "untouched").length).toBeGreaterThan(0);
    else expect(r.predictions!.untouched).toBe(0);
  });

  test("are not taken for dpager, which predicts nothing, nor without a trace", async () => {
    const report = join(dir, "dpager.json");
    await runPager("dpager", [bssTouch, "one"], { flags: ["-q", "--trace", join(dir, "dpager.jsonl"), "--report", report] });
    expect((JSON.parse(readFileSync(report, "utf8")) as RunReport).predictions).toBeNull();
    expect(readFileSync(join(dir, "dpager.jsonl"), "utf8")).not.toContain('"kind":"look"');
    await runPager("hpager", [bssTouch, "one"], { flags: ["-q", "--report", report] });
    expect((JSON.parse(readFileSync(report, "utf8")) as RunReport).predictions).toBeNull();
  });
});

describe("bun run view refuses what it cannot show, in one line", () => {
  let trace = "";
  let report = "";
  beforeAll(async () => {
    trace = join(dir, "v.jsonl");
    report = join(dir, "v.json");
    await runPager("dpager", [bssTouch, "one"], { flags: ["-q", "--trace", trace, "--report", report] });
  });

  test("takes a trace after its report as before it: the same page", async () => {
    const [before, after] = [join(dir, "trace-first.html"), join(dir, "report-first.html")];
    expect(await view([trace, report, "-o", before])).toMatchObject({ exitCode: 0, stderr: "" });
    expect(await view([report, trace, "-o", after])).toMatchObject({ exitCode: 0, stderr: "" });
    // The same runs, figures and faults; only the time each page was made differs.
    const shown = (page: string) => ({ ...pageData(readFileSync(page, "utf8")), made: null });
    expect(shown(after)).toEqual(shown(before));
    expect(shown(after).runs[0]!.notes).not.toContain("no trace was given: faults over time and the predictor's record cannot be shown");
  });

  test("no output file: exit 2", async () => {
    const ran = await view([trace, report]);
    expect(ran.exitCode).toBe(2);
    expect(ran.stderr).toBe("view: no output file given (-o FILE)\nTry 'bun run view --help'.\n");
  });

  test("a trace without its report, a file that is neither, a file not there: exit 1", async () => {
    const out = join(dir, "v.html");
    expect(await view([trace, "-o", out])).toMatchObject({ exitCode: 1, stderr: `view: ${trace}: a trace without a report next to it\n` });
    expect(await view([trace, trace, report, "-o", out])).toMatchObject({ exitCode: 1, stderr: `view: ${trace}: a second trace next to ${trace}: each trace goes next to its report\n` });
    const bad = join(dir, "bad.jsonl");
    writeFileSync(bad, `${readFileSync(trace, "utf8")}{"t_ms":1,"kind":"fault","fault":"nowhere","mapped":[]}\n`);
    const lines = readFileSync(bad, "utf8").trim().split("\n").length;
    expect(await view([bad, report, "-o", out])).toMatchObject({ exitCode: 1, stderr: `view: ${bad}:${lines}: fault is not a hexadecimal address\n` });
    expect(await view([join(dir, "nothing.json"), "-o", out])).toMatchObject({ exitCode: 1, stderr: `view: ${join(dir, "nothing.json")}: cannot read: ENOENT\n` });
    expect(existsSync(out)).toBe(false);
  });

  test("three runs: at most two side by side, exit 2", async () => {
    const ran = await view([report, report, report, "-o", join(dir, "three.html")]);
    expect(ran).toMatchObject({ exitCode: 2, stderr: "view: at most 2 runs side by side, not 3\n" });
  });

  test("an output that cannot be written: exit 2, naming it", async () => {
    mkdirSync(join(dir, "out-dir"), { recursive: true });
    const ran = await view([trace, report, "-o", join(dir, "out-dir")]);
    expect(ran).toMatchObject({ exitCode: 2, stderr: `view: -o ${join(dir, "out-dir")}: cannot write: it is a directory (EISDIR)\n` });
  });

  test("a report alone makes a page", async () => {
    const out = join(dir, "alone.html");
    expect(await view([report, "-o", out])).toMatchObject({ exitCode: 0, stderr: "" });
    expect(pageData(readFileSync(out, "utf8")).runs[0]!.notes).toContain("no trace was given: faults over time and the predictor's record cannot be shown");
  });
});
