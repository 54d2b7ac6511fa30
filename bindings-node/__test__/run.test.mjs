// run() and checks.* against the real test stack (tests/stack/stack.sh up;
// tests/stack/write-project.sh). Run with --test-concurrency=1: one test stops Redis.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import diag from '../index.js'
import bot from '../examples/bot.js'
import { cliReport, hungServer, projectDir, withStopped, withoutTimings } from './support.mjs'

const { run, checks, catalogue } = diag

/** Checks the project's TOML switches off explicitly (`[storage] smart = false`: `storage.smart`). */
function disabledChecks() {
  const off = new Set()
  let section = ''
  for (const line of readFileSync(join(projectDir, 'mssante-diag.toml'), 'utf8').split('\n')) {
    const header = line.match(/^\s*\[([a-z_.]+)\]\s*$/)
    if (header) section = header[1]
    const key = line.match(/^\s*([a-z_]+)\s*=\s*false\s*(#.*)?$/)
    if (key && section) off.add(`${section}.${key[1]}`)
  }
  return off
}

/** Every check of the report ok (the healthy stack has every check ok; `skipped` is not,
 * except for a check the project's TOML switches off explicitly). */
function assertAllOk(report) {
  assert.ok(report.checks.length > 0, 'checks ran')
  const off = disabledChecks()
  const notOk = report.checks
    .filter((c) => c.status !== 'ok' && !(c.status === 'skipped' && off.has(c.id)))
    .map((c) => `${c.id}: ${c.status}: ${c.summary}`)
  assert.deepEqual(notOk, [], 'checks not ok on the healthy stack')
  assert.equal(report.status, 'ok')
}

test('a healthy run reports every check ok, in catalogue order', async () => {
  const seen = []
  const report = await run({ projectDir, onCheck: (check) => seen.push(check) })
  // The healthy stack has every check ok: `skipped` is not healthy.
  assertAllOk(report)
  assert.deepEqual(bot.toMessage(report).split('\n').length, 1, 'a healthy report is one headline')
  assert.deepEqual(
    report.checks.map((c) => c.id),
    catalogue().map((c) => c.id),
    'every check, in catalogue order',
  )
  // onCheck saw every result, as it is in the report, before the run resolved.
  const byId = (a, b) => a.id.localeCompare(b.id)
  assert.deepEqual([...seen].sort(byId), [...report.checks].sort(byId))
  for (const subsystem of ['api', 'postgres', 'redis', 'smtp', 'imap']) {
    assert.ok(report.checks.some((c) => c.subsystem === subsystem && c.status === 'ok'), `${subsystem} ran ok`)
  }
})

test("the report is the CLI's JSON document", async () => {
  // Checks whose facts are stable from one run to the next (the disk and
  // connection counts of other checks move between two runs).
  const names = ['api.health', 'postgres.reachable', 'redis.reachable', 'smtp.submission', 'imap.reachable']
  const [fromNode, fromCli] = [await run({ projectDir, only: names }), cliReport(projectDir, names)]
  assert.deepEqual(Object.keys(fromNode), Object.keys(fromCli))
  assert.deepEqual(withoutTimings(fromNode), withoutTimings(fromCli))
  // Byte for byte, key order included, once timings are out.
  assert.equal(JSON.stringify(withoutTimings(fromNode)), JSON.stringify(withoutTimings(fromCli)))
  assert.equal(fromNode.checks.length, names.length)
})

test('a stopped service is reported critical with its remedy', async () => {
  const report = await withStopped('redis', () => checks.redis({ projectDir }))
  const redis = report.checks.find((c) => c.id === 'redis.reachable')
  assert.equal(redis.status, 'critical', redis.summary)
  assert.equal(report.status, 'critical')
  assert.ok(redis.remediation.length > 0 && redis.remediation.every((r) => r.text && r.guide))
  assert.ok(report.checks.every((c) => c.subsystem === 'redis'))
  // The example bot's message names the broken check and its first remedy step.
  const message = bot.toMessage(report)
  assert.match(message.split('\n')[0], /CRITICAL/)
  assert.ok(message.includes('`redis.reachable`'), message)
  assert.ok(message.includes(`→ ${redis.remediation[0].text}`), message)
  // Started again by withStopped: healthy once more.
  assertAllOk(await checks.redis({ projectDir }))
})

test('the quick set and the per-subsystem functions select as the catalogue says', async () => {
  const all = catalogue()
  assert.deepEqual(Object.keys(checks).sort(), [...new Set(all.map((c) => c.subsystem))].sort())
  const quick = await run({ projectDir, quick: true })
  const quickIds = all.filter((c) => c.quick).map((c) => c.id)
  assert.deepEqual(quick.checks.map((c) => c.id), quickIds, 'the quick checks, in catalogue order')
  assertAllOk(quick)
  const postgres = await checks.postgres({ projectDir, config: { lang: 'fr' } })
  assert.ok(postgres.checks.every((c) => c.subsystem === 'postgres'))
  assertAllOk(postgres)
})

test('runs in parallel without blocking the event loop, even on a hung endpoint', async () => {
  const hung = await hungServer()
  let ticks = 0
  const timer = setInterval(() => ticks++, 50)
  try {
    const config = { timeout_secs: 2, api: { url: `http://127.0.0.1:${hung.port}/health` } }
    // `timeout_state` passes through the overrides: a hung target is then unknown.
    const undecided = { ...config, timeout_state: 'unknown' }
    const started = performance.now()
    const finished = []
    const stamp = (name) => (report) => (finished.push(name), report)
    const [a, b, c, healthy] = await Promise.all([
      run({ projectDir, config, only: ['api.health'] }).then(stamp('hung')),
      run({ projectDir, config, only: ['api.health'] }).then(stamp('hung')),
      run({ projectDir, config: undecided, only: ['api.health'] }).then(stamp('hung')),
      run({ projectDir, only: ['postgres.reachable', 'redis.reachable'] }).then(stamp('healthy')),
    ])
    const elapsed = performance.now() - started
    for (const [report, status] of [[a, 'critical'], [b, 'critical'], [c, 'unknown']]) {
      assert.equal(report.checks[0].status, status, report.checks[0].summary)
      assert.match(report.checks[0].summary, /2 s/, 'the summary says how long it waited')
    }
    assertAllOk(healthy)
    assert.equal(finished[0], 'healthy', 'the healthy run did not wait for the hung ones')
    // Three 2 s waits in a row would take 6 s; side by side, a little over 2 s.
    assert.ok(elapsed >= 1900 && elapsed < 4000, `took ${elapsed} ms`)
    // The timer fired all along (about 40 times in 2 s).
    assert.ok(ticks >= 20, `timer ticked ${ticks} times in ${elapsed} ms`)
  } finally {
    clearInterval(timer)
    await hung.close()
  }
})

