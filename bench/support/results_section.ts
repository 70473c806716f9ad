/**
 * @module The shape of a section of bench/RESULTS.md that a bench phase writes.
 */

/** A heading, the prose saying how the figures were taken, then the figures as a code block. */
export function resultsSection(heading: string, prose: string[], figures: string[]): string {
  return ["", heading, "", ...prose, "", "```", ...figures, "```", ""].join("\n");
}
