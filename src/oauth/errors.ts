/**
 * An OAuth error response (RFC 6749 §5.2, RFC 7591 §3.2.2, RFC 8707 §2): the protocol fixes its
 * shape, `{error, error_description}`, so these are not the service's `{error, message}` errors.
 * Descriptions say what to fix; they never carry a secret or a stored value.
 */
export class OAuthError extends Error {
  readonly error: string
  readonly statusCode: number
  constructor (error: string, description: string, statusCode = 400) {
    super(description)
    this.name = 'OAuthError'
    this.error = error
    this.statusCode = statusCode
  }

  toJSON (): { error: string, error_description: string } {
    return { error: this.error, error_description: this.message }
  }
}
