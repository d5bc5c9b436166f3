/**
 * The pagers and what tells them apart, in one place: each pager's paging
 * policy, hpager's predictors and pages per fault, and how a demand pager
 * catches faults (userfaultfd or the SIGSEGV handler). Pure.
 */
import { LoadError } from "./errors.ts";
import type { Plan, Policy } from "./plan.ts";
import type { Mechanism, PredictorName } from "./spec.ts";
import type { UserfaultfdAccess } from "../shim/shim.ts";

/** A pager: apager maps everything at start, dpager on demand, hpager the
 * bss on demand with predicted pages. */
export type PagerName = "apager" | "dpager" | "hpager";
export const PAGERS: readonly PagerName[] = ["apager", "dpager", "hpager"];

/** The paging policy each pager runs. */
export const POLICY_OF: Record<PagerName, Policy> = { apager: "eager", dpager: "demand", hpager: "hybrid" };
export const PREDICTORS: readonly PredictorName[] = ["next", "stride", "readahead"];
/** Pages per fault when hpager is not told otherwise. */
export const DEFAULT_PREDICT_PAGES = 2;
/** Pages a fault may map under hpager: the faulting one and up to 15 more. */
export const MAX_PREDICT_PAGES = 16;

/** "auto" pages with userfaultfd where the kernel allows it (see
 * userfaultfdAvailable), else with the SIGSEGV handler. */
export type PagingChoice = "auto" | Mechanism;
export const PAGING_CHOICES: readonly PagingChoice[] = ["auto", "signal", "userfaultfd"];

/** What a pager is told besides its name: hpager's predictor and pages
 * per fault, and the paging mechanism. */
export interface PagerChoices {
  paging?: PagingChoice;
  predictor?: PredictorName;
  pages?: number;
}

/** The choices given (null or absent: the pager's default), as launch
 * options carry them: only those given. */
export function pagerChoices(given: { paging?: PagingChoice | null; predictor?: PredictorName | null; pages?: number | null }): PagerChoices {
  return {
    ...(given.paging ? { paging: given.paging } : {}),
    ...(given.predictor ? { predictor: given.predictor } : {}),
    ...(given.pages ? { pages: given.pages } : {}),
  };
}

/** The mechanism for a demand-paged run, before planning: userfaultfd
 * where the kernel allows it (auto), or as asked; asking for userfaultfd
 * where it is not available is an error rather than a silent change of
 * mechanism. */
export function choosePaging(choice: PagingChoice, file: string, access: UserfaultfdAccess): Mechanism {
  if (choice === "signal") return "signal";
  if (choice === "userfaultfd" && access === "none") {
    throw new LoadError(file, "userfaultfd paging is not available here (it needs Linux 5.14 with minor faults on shared memory); use --paging signal", "EPERM");
  }
  return access === "none" ? "signal" : "userfaultfd";
}

/** The kernel serves no userfaultfd range below vm.mmap_min_addr (a program
 * mapped there by root): such a program is paged by the SIGSEGV handler, or
 * refused when userfaultfd was asked for. */
export function belowUserfaultfd(plan: Plan, minAddress: number): boolean {
  return plan.regions.some((r) => r.demand && r.base === "fixed" && r.start < minAddress);
}
