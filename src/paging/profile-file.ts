/**
 * Reading a --prefetch profile from its file. Every problem with it (no such
 * file yet, unreadable, not a profile) is a reason to run without it, in
 * words, never an error: a run refining a profile (`--prefetch P --record
 * P`) starts from none.
 */
import { readFileSync } from "node:fs";
import { reasonOf } from "../view/write.ts";
import { ProfileError, parseProfile, type WorkingSetProfile } from "./working-set.ts";

type ProfileReading = { profile: WorkingSetProfile; problem: null } | { profile: null; problem: string };

export function readProfile(path: string): ProfileReading {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as { code?: string }).code;
    return { profile: null, problem: code === "ENOENT" ? "no such file (a --record run makes one)" : `cannot read: ${reasonOf(error)}` };
  }
  try {
    return { profile: parseProfile(text), problem: null };
  } catch (error) {
    if (error instanceof ProfileError) return { profile: null, problem: `not a usable profile: ${error.message}` };
    throw error;
  }
}
