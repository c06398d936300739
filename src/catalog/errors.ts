/** The catalog cannot be opened as configured (missing upgrade, newer schema, unreachable database). */
export class CatalogError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'CatalogError'
  }
}
