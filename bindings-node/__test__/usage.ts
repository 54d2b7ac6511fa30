// What a TypeScript ops bot writes; compiled by `npm run typecheck` (tsc --noEmit),
// never run. It fails to compile when index.d.ts stops describing the API.
import { catalogue, checks, explain, render, reportSchema, run, version } from 'mssante-diag'
import type { CheckInfo, CheckResult, Metric, Remedy, Report, RunOptions, Status, Subsystem } from 'mssante-diag'

async function main(): Promise<number> {
  const options: RunOptions = {
    projectDir: '/srv/mssante',
    configPath: '/etc/mssante-diag.toml',
    config: { timeout_secs: 2, postgres: { port: 5433 } },
    only: ['postgres', 'smtp.auth'],
    onCheck: (check: CheckResult) => console.log(`${check.id}: ${check.status}`),
  }
  let report: Report
  try {
    report = await run(options)
  } catch (e) {
    const code = (e as Error & { code?: string }).code
    if (code === 'CONFIG' || code === 'ENV_FILE' || code === 'UNKNOWN_CHECK' || code === 'IO') return 3
    throw e
  }
  const worst: Status = report.status
  const broken: CheckResult[] = report.checks.filter((c) => c.status === 'critical')
  for (const check of broken) {
    const first: Remedy | undefined = check.remediation?.[0]
    const latency: Metric | undefined = check.metrics?.find((m) => m.name === 'latency')
    console.log(check.id, check.summary, first?.text, first?.guide, latency?.value, check.duration_ms)
  }
  const quick: Report = await run({ quick: true })
  const pg: Report = await checks.postgres({ projectDir: '.', config: { lang: 'fr' } })
  const each: Subsystem[] = ['postgres', 'redis', 'smtp', 'imap', 'api', 'system']
  for (const s of each) await checks[s]()
  const info: CheckInfo[] = catalogue('fr')
  const one: CheckInfo = explain('postgres.reachable')
  const steps: Remedy[] = one.remediation
  const text: string = render(report, 'nagios') + render(quick, 'human', { color: false, lang: 'en' }) + render(pg, 'json')
  const schema: Record<string, unknown> = reportSchema()
  console.log(worst, info.length, steps.length, text.length, Object.keys(schema).length, version())
  return report.status === 'ok' ? 0 : 2
}

// @ts-expect-error: a format the core does not have
render({} as Report, 'yaml')
// @ts-expect-error: only and quick are options of run, not of a subsystem function
checks.redis({ only: ['postgres'] })

void main()
