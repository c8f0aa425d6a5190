/**
 * A guest can repeat a bad access millions of times; each distinct problem
 * is worth one line in the log, not one per access.
 */
export const reportOnce = (report: (message: string) => void) => {
  const seen = new Set<string>()
  return (key: string, message: string): void => {
    if (seen.has(key)) return
    seen.add(key)
    report(`${message} (reported once)`)
  }
}

export type ReportOnce = ReturnType<typeof reportOnce>
