#!/usr/bin/python
"""Ansible module: diagnose an MSSanté platform with mssante-diag.

Needs the `mssante_diag` Python package on the managed host (the interpreter
Ansible runs the module with). Read-only: it never changes the platform.
"""

from __future__ import annotations

from typing import Any, Dict

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: mssante_diag_check
short_description: Diagnose an MSSanté platform
description:
  - Runs the checks of mssante-diag on the platform's project folder and returns the report as facts.
  - Fails the task when the overall status reaches I(fail_on).
options:
  project:
    description: The platform's project folder (holds .env and mssante-diag.toml).
    type: path
    default: .
  config:
    description: Configuration file (default mssante-diag.toml of the project folder).
    type: path
  only:
    description: Subsystems or check ids to run (all checks when empty).
    type: list
    elements: str
    default: []
  fail_on:
    description: Lowest overall status that fails the task.
    type: str
    choices: [critical, unknown, warning, never]
    default: critical
"""

RETURN = r"""
ansible_facts:
  description: C(mssante_diag), the report (the JSON document of `mssante-diag check --format json`).
  returned: always
  type: dict
"""

# Overall statuses from best to worst, as the core ranks them.
RANK = {"skipped": 0, "ok": 1, "warning": 2, "unknown": 3, "critical": 4, "never": 5}


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            project=dict(type="path", default="."),
            config=dict(type="path"),
            only=dict(type="list", elements="str", default=[]),
            fail_on=dict(type="str", choices=["critical", "unknown", "warning", "never"], default="critical"),
        ),
        supports_check_mode=True,
    )
    try:
        import mssante_diag
    except ImportError as e:
        module.fail_json(msg=f"the mssante_diag Python package is missing on this host: {e}")
        return
    params: Dict[str, Any] = module.params
    try:
        config = mssante_diag.Config(params["project"], config_file=params["config"])
        report = mssante_diag.run_sync(config, only=params["only"] or None)
    except mssante_diag.DiagError as e:
        module.fail_json(msg=str(e), code=e.code)
        return
    facts = {"mssante_diag": report.to_dict()}
    failing = [f"{c.id}: {c.summary}" for c in report.checks if RANK[c.status] >= RANK[params["fail_on"]]]
    if failing:
        module.fail_json(msg=f"mssante-diag: {report.status}: " + "; ".join(failing), ansible_facts=facts, status=report.status)
        return
    module.exit_json(changed=False, ansible_facts=facts, status=report.status)


if __name__ == "__main__":
    main()
