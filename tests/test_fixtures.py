"""The jaws fixtures are real, documented fixtures that combine.

A test asking for several gets their cross product, one asking for a per-item fixture needs
no ``jaws_env``.
"""

FIXTURES = ("jaws_deployment", "jaws_env", "jaws_role", "jaws_program", "jaws_service",
            "jaws_listener", "jaws_portless", "jaws_settings", "jaws_manager")

OWN_CHECKS = '''
def test_role_and_program(jaws_role, jaws_program):
    pass

def test_program_without_env(jaws_program, jaws_settings):
    assert jaws_program in jaws_settings.model.sites[jaws_settings.site].programs.all()
'''


def test_fixtures_are_listed_with_their_docstrings(pytester):
    result = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    out = result.stdout.str()
    for name in FIXTURES:
        assert f"\n{name} [session scope]" in out, f"{name} missing from pytest --fixtures"
    # each with its docstring (pytest lists them sorted by "file:line" text, not by line)
    result.stdout.fnmatch_lines(["jaws_role [[]session scope[]]*",
                                 "*Return a supervisord instance of the site*"])
    result.stdout.fnmatch_lines(["jaws_program [[]session scope[]]*",
                                 "*Return a supervised program of the site*"])


def test_fixtures_combine_as_a_cross_product_and_need_no_env(pytester):
    pytester.makepyfile(test_own=OWN_CHECKS)
    result = pytester.runpytest_subprocess("--collect-only", "-q", "--jaws-env=dev,prod",
                                           "-p", "no:cacheprovider")
    ids = [line.split("::", 1)[1] for line in result.stdout.lines if "::" in line]
    roles, programs = ["jaws", "jtm", "central"], ["jaws-site-daemon", "jaws-site-central-rpc",
                                                   "jaws-site-jtm-rpc", "jaws-jtm",
                                                   "jaws-cromwell", "auth", "rest", "rpc"]
    assert sorted(i for i in ids if i.startswith("test_role_and_program")) == sorted(
        f"test_role_and_program[{e}-{r}-{p}]" for e in ("dev", "prod") for r in roles
        for p in programs)
    assert len([i for i in ids if i.startswith("test_program_without_env")]) == 2 * 8
    result = pytester.runpytest_subprocess("-q", "-k", "without_env", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=8)
