/**
 * Code-unit order, for everything rampart sorts into its outputs (locks, SBOMs, layers, reports).
 * Not localeCompare: that follows the process locale (LANG), so the same input would give
 * differently ordered output on differently configured machines.
 */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
