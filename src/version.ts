import packageJson from '../package.json' with { type: 'json' }

/** The service's release version, from package.json. */
export const SERVICE_VERSION: string = packageJson.version
