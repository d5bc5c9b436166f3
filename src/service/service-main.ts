/**
 * The user's service as src/cli/command.ts starts it (`command.ts service
 * run|status|stop`), bundled with the pagers' command: the client that
 * starts a service (shim/loader/client.c) waits for it to listen. No
 * top-level await: the bundle must be a script.
 */
import { writeSync } from "node:fs";
import { runServiceCommand } from "./command.ts";

void runServiceCommand(process.argv.slice(3)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    writeSync(2, `faultline service: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
