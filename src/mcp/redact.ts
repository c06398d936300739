const SENSITIVE_KEY = /pass(word)?|secret|token|api[_-]?key|authori[sz]ation|cookie|credential|private[_-]?key/i
const MAX_STRING = 500
const MAX_DEPTH = 6

/**
 * A copy of tool arguments that is safe to log: values under sensitive-looking keys are
 * replaced, long strings (e.g. big SQL) are shortened, deep structures are cut off.
 */
export function redactArguments (value: unknown, depth = 0): unknown {
  if (typeof value === 'string') {
    return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}… (${value.length - MAX_STRING} more characters)` : value
  }
  if (value === null || typeof value !== 'object') return value
  if (depth >= MAX_DEPTH) return '[…]'
  if (Array.isArray(value)) return value.slice(0, 50).map(item => redactArguments(item, depth + 1))
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [
    key,
    SENSITIVE_KEY.test(key) ? '[REDACTED]' : redactArguments(item, depth + 1)
  ]))
}
