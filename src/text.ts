/** Small text helpers, written as loops where a regular expression would backtrack. */

/** `text` without the `suffix` characters it ends with (`https://x//` → `https://x`). */
export function trimEnd (text: string, suffix: string): string {
  let end = text.length
  while (end > 0 && text[end - 1] === suffix) end--
  return text.slice(0, end)
}
