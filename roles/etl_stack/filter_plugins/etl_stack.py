"""Filter of the etl_stack role: whether the ETL stages run, and why.

Python rather than a Jinja expression: the decision combines the mode, the outputs found, the stamp of the last
successful run and the current fingerprint, and every branch is unit-tested (tests/unit/test_etl_stack_decision.py).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

MODES = ("auto", "always", "never")


def etl_stack_decision(mode, expected_outputs, present_outputs, last_fingerprint, fingerprint):
    """{run: bool, reasons: [why the stages would run]} for etl_stack_run_pipeline = mode.

    present_outputs: the output files found (None when the output volume does not exist yet);
    last_fingerprint: the fingerprint recorded by the last successful run ('' when none is recorded).
    """
    if mode not in MODES:
        raise AnsibleFilterError("etl_stack_run_pipeline must be one of %s, got %r" % (", ".join(MODES), mode))
    present = set(present_outputs or [])
    missing = [name for name in expected_outputs if name not in present]
    reasons = []
    if mode == "always":
        reasons.append("etl_stack_run_pipeline is always")
    if missing:
        reasons.append("outputs missing: " + ", ".join(missing))
    if not last_fingerprint:
        reasons.append("no successful run recorded")
    elif last_fingerprint != fingerprint:
        reasons.append("source data, reporting table, ETL image or stage settings changed")
    return {"run": mode == "always" or (mode == "auto" and bool(reasons)), "reasons": reasons}


class FilterModule:
    def filters(self):
        return {"etl_stack_decision": etl_stack_decision}
