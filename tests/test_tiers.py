"""The two tiers of the project's own tests (issue 25): ``pytest tests`` and ``-m slow``.

The fast tier leaves out the tests marked ``@pytest.mark.slow`` and its header says how to run
them; ``-m slow`` runs only those; ``-m "slow or not slow"`` runs every test. Checked by
collecting tests/test_suite_checks.py (one slow test, one slow parameter, the rest fast).
"""

from __future__ import annotations

import subprocess
import sys

from helpers import ROOT

MODULE = "tests/test_suite_checks.py"
SLOW = "test_program_that_is_not_restarted_fails_the_recovery_check"
SLOW_PARAM = "test_central_checks_fail_when_central_says_otherwise[status-down]"
FAST = "test_stopped_program_fails_its_running_check"


def _collect(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "pytest", MODULE, "--co", "-q",
                           "-p", "no:cacheprovider", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_fast_tier_leaves_the_slow_tests_out_and_says_how_to_run_them():
    out = _collect()
    assert FAST in out
    assert SLOW not in out and SLOW_PARAM not in out, out
    assert "test_central_checks_fail_when_central_says_otherwise[info-env]" in out
    assert "deselected" in out


def test_minus_m_slow_runs_only_the_slow_tier():
    out = _collect("-m", "slow")
    assert SLOW in out and SLOW_PARAM in out, out
    assert FAST not in out


def test_every_test_runs_with_slow_or_not_slow():
    out = _collect("-m", "slow or not slow")
    assert SLOW in out and SLOW_PARAM in out and FAST in out
    assert "deselected" not in out


def test_the_header_says_which_tier_runs_and_how_to_run_the_other():
    done = subprocess.run([sys.executable, "-m", "pytest", MODULE, "-k", "no_such_test",
                           "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert ("pytest-jaws tests: the fast tier; the slow tier (several runs, twins of real "
            "sites, run-started servers, installs, documented commands) runs with: "
            "pytest tests -n 2 -m slow") in done.stdout, done.stdout
