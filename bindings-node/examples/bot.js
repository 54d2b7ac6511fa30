#!/usr/bin/env node
'use strict'
// An ops bot handler: runs the checks and turns the report into a chat message
// (Slack/Mattermost markdown): a headline with the overall status, then one line
// per check that is not ok, with the first step of its remedy.
//
//   node examples/bot.js [PROJECT_DIR]    prints the message for that project folder
//
// In a bot, post `await diagnose(dir)` to the channel (e.g. with fetch() on an
// incoming webhook). The labels follow the report's language (`lang` in
// mssante-diag.toml, else the locale).

const { run } = require('..')

const ICONS = { ok: ':white_check_mark:', warning: ':warning:', critical: ':red_circle:', unknown: ':grey_question:', skipped: ':fast_forward:' }

/** The chat message for a report. */
function toMessage(report) {
  const counts = {}
  for (const check of report.checks) counts[check.status] = (counts[check.status] ?? 0) + 1
  const tally = Object.entries(counts).map(([status, n]) => `${n} ${status}`).join(', ')
  const lines = [`${ICONS[report.status]} *MSSanté ${report.host}: ${report.status.toUpperCase()}* (${tally}, ${report.duration_ms} ms)`]
  for (const check of report.checks) {
    if (check.status === 'ok' || check.status === 'skipped') continue
    lines.push(`${ICONS[check.status]} \`${check.id}\` ${check.summary}`)
    const remedy = check.remediation?.[0]
    if (remedy) {
      const command = remedy.command ? ` \`${remedy.command}\`` : ''
      const danger = remedy.destructive ? ' :rotating_light: destructive' : ''
      lines.push(`    → ${remedy.text}${command} _(guide: ${remedy.guide})_${danger}`)
    }
  }
  return lines.join('\n')
}

/** Runs every check of a project folder and returns the message; a run that cannot start gives its error. */
async function diagnose(projectDir) {
  try {
    return toMessage(await run({ projectDir }))
  } catch (e) {
    return `:x: *mssante-diag could not run* (${e.code}): ${e.message}`
  }
}

module.exports = { toMessage, diagnose }

if (require.main === module) {
  diagnose(process.argv[2] ?? '.').then((message) => console.log(message))
}
