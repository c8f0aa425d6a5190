/** Median of a non-empty sample (mean of the middle two for even sizes). */
export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export const min = (values: ReadonlyArray<number>): number => Math.min(...values)
