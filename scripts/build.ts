/**
 * Compiles src/ to dist/ (JavaScript and declarations, tsconfig.build.json) and copies the
 * files the code reads next to its modules at run time (src/pages/browser/*) alongside them,
 * so dist/ runs on its own. assets/ and package.json are read from the package root, one level
 * above both src/ and dist/, and are not copied.
 *   node scripts/build.ts   (npm run build; make setup and npm pack run it)
 * dist/cli.js is written last: it exists only when the whole build succeeded.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, rmSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const SRC = path.join(ROOT, 'src')
const DIST = path.join(ROOT, 'dist')

rmSync(DIST, { recursive: true, force: true })
cpSync(SRC, DIST, { recursive: true, filter: source => statSync(source).isDirectory() || !source.endsWith('.ts') })
execFileSync(process.execPath, [fileURLToPath(import.meta.resolve('typescript/bin/tsc')), '-p', path.join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' })
