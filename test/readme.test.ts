import { readFileSync } from 'node:fs'
import t from 'tap'
import { README, readmeWithTable } from '../scripts/settings-doc.ts'
import { SETTINGS } from '../src/config.ts'

const readme = readFileSync(README, 'utf8')

t.test('the settings table matches the config schema', async t => {
  t.equal(readme, readmeWithTable(readme), 'README.md is current; run `make settings-doc` after changing src/config.ts')
  for (const name of Object.keys(SETTINGS)) t.match(readme, `\`${name}\``, `${name} is documented`)
})

t.test('the README gives the two commands CI and users rely on', async t => {
  t.match(readme, /^make run\s/m)
  t.match(readme, /^make test\s/m)
  const ci = readFileSync(new URL('../.ci/run', import.meta.url), 'utf8')
  t.match(ci, /make test/, '.ci/run runs the README test command')
})
