// The rest of the API: errors and their codes, catalogue, explain, render, schema.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { test } from 'node:test'
import diag from '../index.js'
import { cli, projectDir } from './support.mjs'

const { run, checks, catalogue, explain, render, reportSchema, version, effectiveConfig } = diag

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

// Distinctive passwords seeded into every place a secret can come from.
const SECRETS = ['pg-pass-Zq7xK', 'redis-pass-Zq7xK', 'jwt-Zq7xK', 'dsn-pass-Zq7xK', 'reserved-pass-Zq7xK', 'api-pass-Zq7xK', '7731977']

/** Fails naming the secrets found in any printable form of `value`. */
function assertNoSecret(value, what) {
  const forms = [String(value), inspect(value, { depth: null, showHidden: true }), JSON.stringify(value) ?? '']
  if (value instanceof Error) forms.push(value.stack ?? '', JSON.stringify({ ...value }))
  const text = forms.join('\n')
  const leaked = SECRETS.filter((s) => text.includes(s))
  assert.deepEqual(leaked, [], `${what}: ${text}`)
}

test('a broken .env line rejects naming file, line and key, never the password', async () => {
  for (const line of ['POSTGRES_PASSWORD=pg-pass-Zq7xK and more', 'POSTGRES_PASSWORD="pg-pass-Zq7xK never closed']) {
    const dir = scratch({ '.env': `DOMAIN=mssante.test\n# comment\n${line}\nREDIS_PASSWORD=redis-pass-Zq7xK\n` })
    await assert.rejects(run({ projectDir: dir }), (e) => {
      assert.equal(e.code, 'ENV_FILE')
      assert.match(e.message, /\.env:3 .*POSTGRES_PASSWORD/)
      assertNoSecret(e, line)
      return true
    })
  }
})

test('a bad configuration value rejects without quoting a password', async () => {
  const files = [
    '[postgres]\npassword = 7731977\n',
    '[postgres]\npassword = "pg-pass-Zq7xK\n',
    '[postgres.reserved]\nuser = "r"\npassword = 7731977\n',
    '[api]\nurl = "http://ops:api-pass-Zq7xK@127.0.0.1:99999/health"\n',
  ]
  for (const toml of files) {
    const dir = scratch({ 'mssante-diag.toml': toml })
    await assert.rejects(run({ projectDir: dir }), (e) => (assert.equal(e.code, 'CONFIG'), assertNoSecret(e, toml), true))
  }
  await assert.rejects(run({ projectDir, config: { redis: { password: 7731977 } } }), (e) => {
    assert.equal(e.code, 'CONFIG')
    assert.match(e.message, /redis.*password/)
    assertNoSecret(e, 'overrides')
    return true
  })
})

test('a report never shows the secrets of its configuration, in any format', async () => {
  const closed = await new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
  const dir = scratch({
    '.env':
      'POSTGRES_PASSWORD=pg-pass-Zq7xK\nREDIS_PASSWORD=redis-pass-Zq7xK\nJWT_SECRET=jwt-Zq7xK\n' +
      'DATABASE_URL=postgres://mssante:dsn-pass-Zq7xK@127.0.0.1:5432/mssante\n',
    'mssante-diag.toml':
      `timeout_secs = 1\n[api]\nurl = "http://ops:api-pass-Zq7xK@127.0.0.1:${closed}/health"\n` +
      `[postgres]\nhost = "127.0.0.1"\nport = ${closed}\n[postgres.reserved]\nuser = "diagadmin"\npassword = "reserved-pass-Zq7xK"\n` +
      `[redis]\nhost = "127.0.0.1"\nport = ${closed}\n`,
  })
  const report = await run({ projectDir: dir, only: ['api', 'postgres', 'redis'] })
  assert.equal(report.status, 'critical', 'the error paths ran')
  assertNoSecret(report, 'the report')
  for (const format of ['human', 'json', 'nagios', 'prometheus']) {
    for (const lang of ['en', 'fr']) assertNoSecret(render(report, format, { lang }), `${format} ${lang}`)
  }
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

test('decodeJwt judges a token with the project secret and never returns it', async () => {
  const { createHmac } = await import('node:crypto')
  const { readFileSync } = await import('node:fs')
  const secret = readFileSync(join(projectDir, '.env'), 'utf8').match(/^JWT_SECRET=(.*)$/m)[1]
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const sign = (claims) => {
    const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
  }
  const now = Math.floor(Date.now() / 1000)
  const valid = sign({ sub: 'node@mssante.test', iat: now - 10, exp: now + 3600 })
  const ok = await diag.decodeJwt(valid, { projectDir })
  assert.equal(ok.checks.length, 1)
  assert.equal(ok.checks[0].id, 'auth.jwt')
  assert.equal(ok.status, 'ok', ok.checks[0].summary)
  assert.equal(ok.checks[0].details.sub, 'n***@mssante.test')
  const expired = sign({ iat: now - 7200, exp: now - 3600 })
  const bad = await diag.decodeJwt(expired, { projectDir, config: { lang: 'fr' } })
  assert.equal(bad.status, 'critical')
  assert.match(bad.checks[0].summary, /expiré le/)
  const text = JSON.stringify(bad)
  assert.ok(!text.includes(expired.split('.')[2]) && !text.includes(secret), 'no signature, no secret')
  const garbage = await diag.decodeJwt('not-a-token', { projectDir })
  assert.match(garbage.checks[0].summary, /jwt malformed/)
})

test('buildBundle writes every member its manifest lists, without the secrets of .env', async () => {
  const { readFileSync, mkdtempSync, rmSync } = await import('node:fs')
  const { createHash } = await import('node:crypto')
  const { execFileSync } = await import('node:child_process')
  const { tmpdir } = await import('node:os')
  const dir = mkdtempSync(join(tmpdir(), 'mssante-diag-bundle-'))
  try {
    const out = join(dir, 'b.tar.gz')
    const manifest = await diag.buildBundle(out, { projectDir })
    const names = manifest.members.map((m) => m.name)
    for (const want of ['report.json', 'config/env', 'system.txt']) assert.ok(names.includes(want), want)
    execFileSync('tar', ['-xzf', out, '-C', dir])
    const secrets = readFileSync(join(projectDir, '.env'), 'utf8')
      .split('\n')
      .filter((l) => /^[A-Z_]*(PASSWORD|SECRET)[A-Z_]*=/.test(l))
      .map((l) => l.split('=').slice(1).join('=').replace(/^['"]|['"]$/g, ''))
    assert.ok(secrets.length > 0)
    for (const m of manifest.members) {
      const data = readFileSync(join(dir, manifest.root, m.name))
      assert.equal(data.length, m.size, m.name)
      assert.equal(createHash('sha256').update(data).digest('hex'), m.sha256, m.name)
      for (const s of secrets) assert.ok(!data.includes(s), `${m.name} holds a secret of .env`)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('reconcileAnnuaire agrees on the stack and names the planted differences, masked', async () => {
  const ok = await diag.reconcileAnnuaire({ projectDir })
  assert.deepEqual(ok.checks.map((c) => c.id), ['annuaire.mailboxes'])
  assert.equal(ok.status, 'ok', ok.checks[0].summary)
  const planted = await diag.reconcileAnnuaire({ projectDir, config: { annuaire: { url: 'https://127.0.77.1:13470/fhir/planted', mask: true } } })
  assert.equal(planted.status, 'warning')
  assert.deepEqual(planted.checks[0].details.missing, ['a***@mssante.test', 'd***@mssante.test', 's***@mssante.test'])
  assert.deepEqual(planted.checks[0].details.unlisted, { published: 12, extra: 2, mismatched: 1 })
  assert.ok(!JSON.stringify(planted).includes('hidden'), 'unlisted BALs are never named')
})

test('auditDns audits the stack\'s healthy zone and a defect zone', async () => {
  const audit = await diag.auditDns(['ok.dns.test', 'dmarc-none.dns.test'], { projectDir })
  assert.deepEqual(audit.addresses.map((c) => c.id), ['dns.ptr', 'dns.blocklist'])
  const audits = audit.domains
  assert.deepEqual(audits.map((a) => a.domain), ['ok.dns.test', 'dmarc-none.dns.test'])
  assert.equal(audits[0].status, 'ok', inspect(audits[0].checks.filter((c) => c.status !== 'ok')))
  assert.ok(audits[0].checks.some((c) => c.id === 'dns.spf'))
  assert.equal(audits[1].status, 'warning')
  assert.match(audits[1].checks.find((c) => c.id === 'dns.dmarc').summary, /p=none/)
})

test('summarizeLogs counts a small fixture file and rejects bad input with its code', async () => {
  const log = [
    'Nov 30 12:00:01 mail postfix/smtpd[10]: 4F2A81C0123: client=peer.fr[192.0.2.7]',
    'Nov 30 12:00:01 mail postfix/qmgr[12]: 4F2A81C0123: from=<alice@peer.fr>, size=2000, nrcpt=2 (queue active)',
    'Nov 30 12:00:02 mail postfix/lmtp[13]: 4F2A81C0123: to=<bob@mssante.test>, relay=dovecot[172.18.0.5]:24, delay=0.2, delays=0.1/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok: saved)',
    'Nov 30 12:00:02 mail postfix/smtp[14]: 4F2A81C0123: to=<carol@clinique.fr>, relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to mx.clinique.fr[198.51.100.9]:25: Connection timed out)',
    'Nov 30 12:20:01 mail postfix/submission/smtpd[15]: warning: unknown[203.0.113.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6',
    'garbage \u0001',
    '',
  ].join('\n')
  const dir = scratch({ 'mail.log': log })
  const summary = await diag.summarizeLogs([join(dir, 'mail.log')])
  assert.deepEqual([summary.received, summary.delivered, summary.deferred], [1, 1, 1])
  assert.deepEqual(summary.top_deferral_reasons, [{ value: 'connect to mx.clinique.fr[198.51.100.9]:25: Connection timed out', count: 1 }])
  assert.equal(summary.lines.skipped.malformed, 1)
  const masked = await diag.summarizeLogs([join(dir, 'mail.log')], { maskAddresses: true })
  assert.deepEqual(masked.auth_failures.by_client, [{ value: '203.0.113.x', count: 1 }])
  await assert.rejects(diag.summarizeLogs([join(dir, 'mail.log')], { since: 'yesterday' }), (e) => e.code === 'CONFIG')
  await assert.rejects(diag.summarizeLogs([join(dir, 'missing.log')]), (e) => e.code === 'IO')
})

test('serve exposes the check series until closed', async () => {
  const exporter = await diag.serve('127.0.0.1:0', { projectDir, only: ['api', 'redis'], cacheSecs: 0 })
  const url = `http://${exporter.address}/metrics`
  try {
    const res = await fetch(url)
    assert.equal(res.status, 200)
    const text = await res.text()
    assert.match(text, /^mssante_diag_check_status\{check="api\.health",subsystem="api"\} 0$/m)
    assert.match(text, /^mssante_diag_check_status\{check="redis\.reachable",subsystem="redis"\} 0$/m)
    assert.doesNotMatch(text, /check="postgres\./)
  } finally {
    exporter.close()
  }
  // Closed: the port stops answering (the server task ends at once, the socket with it).
  let refused = false
  for (let i = 0; i < 40 && !refused; i++) {
    refused = await fetch(url).then(() => false, () => true)
    if (!refused) await new Promise((r) => setTimeout(r, 50))
  }
  assert.ok(refused, 'the exporter still answers after close()')
  exporter.close()
  await assert.rejects(diag.serve('127.0.0.1:0', { projectDir, only: ['nope.nope'] }), { code: 'UNKNOWN_CHECK' })
  assert.throws(() => diag.serve('not-an-address'), /listen `not-an-address`/)
})

test('effectiveConfig lists every value with its source and no secret', () => {
  const effective = effectiveConfig({ projectDir, config: { timeout_secs: 2 } })
  const entry = (key) => effective.entries.find((e) => e.key === key)
  assert.deepEqual(entry('timeout_secs').source, { kind: 'override' })
  assert.equal(entry('postgres.port').source.kind, 'file')
  assert.deepEqual(entry('postgres.user').source, { kind: 'env', variables: [{ name: 'POSTGRES_USER', origin: 'env_file' }] })
  assert.equal(entry('postgres.password').value, '[REDACTED]')
  assert.equal(entry('postgres.password').secret, true)
  assert.ok(effective.entries.every((e) => ['default', 'env', 'file', 'override'].includes(e.source.kind)))
  assert.deepEqual(effective.notices, [])
  const text = JSON.stringify(effective)
  const env = execFileSync('cat', [join(projectDir, '.env')], { encoding: 'utf8' })
  for (const line of env.split('\n')) {
    const [key, value = ''] = line.split(/=(.*)/s)
    if (/PASSWORD|SECRET|KEY/.test(key) && value.length >= 6) assert.ok(!text.includes(value.replaceAll('"', '')), key)
  }
  assert.throws(() => effectiveConfig({ projectDir, config: { postgres: { prot: 1 } } }), { code: 'CONFIG' })
})

test('a report outside a platform folder carries a notice', async () => {
  const dir = scratch({})
  const report = await run({ projectDir: dir, only: ['system.clock'], config: { timeout_secs: 1, lang: 'en' } })
  assert.equal(report.notices.length, 1)
  assert.equal(report.notices[0].id, 'project.empty')
  assert.match(report.notices[0].message, /--project/)
})
