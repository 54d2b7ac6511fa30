# %% [markdown]
# # Exploring an MSSanté platform with `mssante_diag`
#
# A notebook-style walk-through (cells in the `# %%` format of Jupyter/VS Code).
# In a notebook, use the asyncio API directly: `report = await mssante_diag.run(config)`;
# as a script, this file uses the blocking `run_sync`.
# Set `MSSANTE_PROJECT` to the platform's project folder (holds `.env` and `mssante-diag.toml`).

# %%
from __future__ import annotations

import os

import mssante_diag

config = mssante_diag.Config(os.environ.get("MSSANTE_PROJECT", "."))
print(config, mssante_diag.__version__)

# %% [markdown]
# ## The guide's quick check
# The same report as `mssante-diag quick`, printed the same way.

# %%
report = mssante_diag.run_sync(config, quick=True)
print(mssante_diag.render(report, "human"))

# %% [markdown]
# ## Results as data
# Every result is a typed object; `to_dict()` gives plain data for pandas or JSON.

# %%
for check in report.checks:
    print(f"{check.id:<22} {check.status:<8} {check.duration_ms:>5} ms  {check.summary}")

latencies = {c.id: m.value for c in report.checks for m in c.metrics if m.name.startswith("latency")}
print(latencies)

# %% [markdown]
# ## One subsystem, in detail

# %%
postgres = mssante_diag.run_sync(config, only=["postgres"])
reachable = postgres.check("postgres.reachable")
if reachable is not None:
    print(reachable.status, reachable.summary)
    print(reachable.details)

# %% [markdown]
# ## What to do about it
# Each non-ok result carries the guide's remedy; `explain` shows it for any check.

# %%
for check in report.checks:
    for step in check.remediation:
        warning = " [DESTRUCTIVE]" if step.destructive else ""
        print(f"{check.id}: {step.text}{warning} ({step.guide})")

print(mssante_diag.explain("postgres.reachable")["remediation"][0]["text"])

# %% [markdown]
# ## Monitoring formats

# %%
print(mssante_diag.render(report, "nagios"))
