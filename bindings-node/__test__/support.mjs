// Shared helpers of the binding's tests: the real test stack (tests/stack/stack.sh)
// and the CLI built from the same workspace.
import { execFileSync } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'

export const repo = fileURLToPath(new URL('../..', import.meta.url))
export const stackDir = process.env.MSSANTE_STACK_DIR ?? '/tmp/mssante-diag-stack'
/** The stack's platform project folder (`tests/stack/write-project.sh`). */
export const projectDir = join(stackDir, 'project')
/** The CLI binary of this workspace (`cargo build -p mssante-diag-cli`). */
export const cli = process.env.MSSANTE_DIAG_CLI ?? join(repo, 'target', 'debug', 'mssante-diag')

/** Runs `tests/stack/stack.sh ARGS...` (up, stop SVC, start SVC, ...). */
export function stack(...args) {
  execFileSync('bash', [join(repo, 'tests', 'stack', 'stack.sh'), ...args], { stdio: ['ignore', 'ignore', 'inherit'] })
}

/** Stops a stack service for the time of `fn`, then starts it again whatever happens. */
export async function withStopped(service, fn) {
  stack('stop', service)
  try {
    return await fn()
  } finally {
    stack('start', service)
  }
}

/** The CLI's JSON report for `mssante-diag --project DIR check NAMES...`. */
export function cliReport(dir, names) {
  try {
    return JSON.parse(execFileSync(cli, ['--project', dir, 'check', '--format', 'json', ...names], { encoding: 'utf8' }))
  } catch (e) {
    // Exit codes 1 and 2 (warning, critical) still print the report.
    if (e.stdout) return JSON.parse(e.stdout)
    throw e
  }
}

/** A deep copy of a report without what differs from one run to the next: timings. */
export function withoutTimings(report) {
  const { started_at: _s, duration_ms: _d, checks, ...rest } = report
  return {
    ...rest,
    checks: checks.map(({ duration_ms: _c, metrics, details, summary, ...check }) => ({
      ...check,
      summary: summary.replace(/\d+(\.\d+)? ?ms\b/g, 'N ms'),
      metrics: metrics.filter((m) => !m.name.startsWith('latency')),
      details: details && typeof details === 'object' && !Array.isArray(details) ? omit(details, 'latency_ms') : details,
    })),
  }
}

function omit(object, key) {
  const { [key]: _, ...rest } = object
  return rest
}

/**
 * A loopback TCP server that accepts connections and never reads nor answers them
 * (`pauseOnConnect`): a hung endpoint. Resolves with `{ port, close }`.
 */
export function hungServer() {
  const sockets = new Set()
  const server = createServer({ pauseOnConnect: true }, (socket) => sockets.add(socket))
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: server.address().port,
        close: () =>
          new Promise((done) => {
            for (const socket of sockets) socket.destroy()
            server.close(done)
          }),
      }),
    )
  })
}
