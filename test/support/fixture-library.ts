/**
 * Subprocess fixture: run a program through the library while a timer
 * ticks, to show the event loop keeps running; print the report and the
 * number of ticks as JSON.
 */
import { run } from "../../src/index.ts";

let ticks = 0;
const timer = setInterval(() => ticks++, 10);
const lines: string[] = [];
const report = await run(process.argv.slice(2), { log: (line) => lines.push(line) });
clearInterval(timer);
console.log(JSON.stringify({ report, ticks, logged: lines.length }));
