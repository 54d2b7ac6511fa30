// Fails when a committed generated file (binding.js, binding.d.ts, report.d.ts) is
// not what the Rust code generates now: builds the addon into a temporary folder
// with the same napi command as `npm run build`, regenerates the report types from
// that build, and compares. Fix a failure with `npm run build` and commit the result.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { reportTypes } from './gen-types.mjs'

const pkg = fileURLToPath(new URL('..', import.meta.url))
const tmp = mkdtempSync(join(tmpdir(), 'mssante-diag-types-'))
try {
  const napi = join(pkg, 'node_modules', '.bin', 'napi')
  execFileSync(napi, ['build', '--platform', '--js', 'binding.js', '--dts', 'binding.d.ts', '--output-dir', tmp], {
    cwd: pkg,
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  writeFileSync(join(tmp, 'report.d.ts'), reportTypes(join(tmp, 'binding.js')))
  const stale = ['binding.js', 'binding.d.ts', 'report.d.ts'].filter((file) => {
    const committed = readFileSync(join(pkg, file), 'utf8')
    const fresh = readFileSync(join(tmp, file), 'utf8')
    if (committed === fresh) return false
    console.error(`--- ${file} (committed)\n+++ ${file} (generated now)`)
    try {
      execFileSync('diff', ['-u', join(pkg, file), join(tmp, file)], { stdio: 'inherit' })
    } catch {
      // diff exits 1 when the files differ: its output is what we wanted.
    }
    return true
  })
  if (stale.length > 0) {
    console.error(`stale generated file(s): ${stale.join(', ')}; run \`npm run build\` in bindings-node and commit them`)
    process.exitCode = 1
  } else {
    console.log('generated types are current: binding.js, binding.d.ts, report.d.ts')
  }
} finally {
  rmSync(tmp, { recursive: true, force: true })
}
