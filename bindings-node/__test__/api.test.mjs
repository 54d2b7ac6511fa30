// The rest of the API: errors and their codes, catalogue, explain, render, schema.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import diag from '../index.js'
import { cli, projectDir } from './support.mjs'

const { run, checks, catalogue, explain, render, reportSchema, version } = diag

function scratch(files) {
  const dir = mkdtempSync(join(tmpdir(), 'mssante-diag-node-'))
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  return dir
}

test('an invalid configuration rejects with code CONFIG naming the key', async () => {
  await assert.rejects(run({ projectDir, config: { postgres: { prot: 5432 } } }), (e) => {
    assert.ok(e instanceof Error)
    assert.equal(e.code, 'CONFIG')
    assert.match(e.message, /<overrides>/)
    assert.match(e.message, /prot/)
    return true
  })
  const dir = scratch({ 'bad.toml': '[postgres]\nport = "x"\n' })
  await assert.rejects(run({ projectDir, configPath: join(dir, 'bad.toml') }), (e) => {
    assert.equal(e.code, 'CONFIG')
    assert.match(e.message, /bad\.toml/)
    assert.match(e.message, /postgres\.port/)
    return true
  })
  await assert.rejects(checks.api({ projectDir, config: { timeout_secs: -1 } }), { code: 'CONFIG', message: /timeout_secs/ })
  await assert.rejects(run({ projectDir, configPath: join(dir, 'missing.toml') }), { code: 'CONFIG' })
})

test('an unreadable .env rejects with code ENV_FILE', async () => {
  const dir = scratch({ '.env': 'POSTGRES_PASSWORD="never closed\n' })
  await assert.rejects(run({ projectDir: dir }), { code: 'ENV_FILE', message: /\.env/ })
})

test('an unknown check rejects with code UNKNOWN_CHECK', async () => {
  await assert.rejects(run({ projectDir, only: ['postgres', 'nope.nothing'] }), {
    code: 'UNKNOWN_CHECK',
    message: /nope\.nothing/,
  })
  assert.throws(() => explain('nope.nothing'), { code: 'UNKNOWN_CHECK' })
})

test("bad arguments throw napi's argument errors", () => {
  assert.throws(() => run({ projectDir, only: ['postgres'], quick: true }), { code: 'InvalidArg' })
  assert.throws(() => run({ only: 'postgres' }), { code: 'ArrayExpected', message: /only/ })
  assert.throws(() => render({ not: 'a report' }, 'json'), { code: 'InvalidArg', message: /not a report/ })
  assert.throws(() => render({}, 'yaml'), { code: 'InvalidArg' })
})

test('catalogue and explain describe every check in both languages', () => {
  const en = catalogue('en')
  const fr = catalogue('fr')
  assert.ok(en.length > 0)
  assert.equal(new Set(en.map((c) => c.id)).size, en.length, 'ids are unique')
  assert.deepEqual(en.map((c) => c.id), fr.map((c) => c.id))
  assert.ok(en.some((c, i) => c.title !== fr[i].title), 'titles are translated')
  for (const check of en) {
    assert.match(check.id, /^[a-z_]+\.[a-z_]+$/)
    assert.equal(check.id.split('.')[0], check.subsystem)
    assert.ok(check.guide.length > 0 && check.remediation.length > 0, check.id)
    assert.deepEqual(explain(check.id, 'en'), check)
  }
  const listed = JSON.parse(execFileSync(cli, ['list', '--format', 'json', '--lang', 'en'], { encoding: 'utf8' }))
  assert.deepEqual(en, listed)
})

test('render prints a report in every format as the CLI does', async () => {
  const report = await run({ projectDir, only: ['redis', 'postgres.reachable'] })
  assert.deepEqual(JSON.parse(render(report, 'json')), report)
  assert.match(render(report, 'nagios'), /^MSSANTE-DIAG OK - /)
  assert.match(render(report, 'prometheus'), /^# (HELP|TYPE) /m)
  const human = render(report, 'human', { lang: 'en', color: false })
  assert.ok(human.includes('redis.reachable') || human.includes(report.checks[0].summary))
  assert.doesNotMatch(human, /\x1b\[/, 'no colour unless asked')
  assert.match(render(report, 'human', { color: true }), /\x1b\[/)
})

test('reportSchema and version are those of the CLI', () => {
  const schema = JSON.parse(execFileSync(cli, ['schema'], { encoding: 'utf8' }))
  assert.deepEqual(reportSchema(), schema)
  assert.equal(execFileSync(cli, ['--version'], { encoding: 'utf8' }).trim(), `mssante-diag ${version()}`)
})
