/**
 * What each mark of the fault map stands for, and its colour: the entry
 * page mapped at start, a demand fault's page, and a predicted page by what
 * became of it. Colours are Tableau's, distinguishable with the common
 * colour-vision deficiencies in pairs that matter here (blue against orange).
 */
import { CAUSE_FAULT, CAUSE_START, type RunView } from "../model.ts";

export const CATEGORY_START = 0;
export const CATEGORY_FAULT = 1;
export const CATEGORY_TOUCHED = 2;
export const CATEGORY_UNTOUCHED = 3;
export const CATEGORY_UNKNOWN = 4;
export const CATEGORY_COUNT = 5;

export const COLORS = ["#7f7f7f", "#1f77b4", "#2ca02c", "#ff7f0e", "#b07aa1"];

/** Labels, worded for what a look could see under the run's mechanism. */
export function categoryLabels(run: RunView): string[] {
  const written = run.predictions?.seen === "written";
  return [
    "entry page, mapped at start",
    "demand fault",
    written ? "predicted, written later" : "predicted, touched later",
    "predicted, not touched (by the last look)",
    written ? "predicted, not written (read or untouched: unknown)" : "predicted, unknown (mapped after the last look)",
  ];
}

/** The category of every mark. */
export function markCategories(run: RunView): Uint8Array {
  const { cause, verdict } = run.marks;
  const categories = new Uint8Array(cause.length);
  for (let i = 0; i < cause.length; i++) {
    categories[i] = cause[i] === CAUSE_START ? CATEGORY_START : cause[i] === CAUSE_FAULT ? CATEGORY_FAULT : verdict[i] === 1 ? CATEGORY_TOUCHED : verdict[i] === 2 ? CATEGORY_UNTOUCHED : CATEGORY_UNKNOWN;
  }
  return categories;
}
