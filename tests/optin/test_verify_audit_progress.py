"""DESIGN §4: verify_audit shows a progress bar on a large log, and only the summary otherwise."""

import io

from django.core.management import call_command


def test_the_progress_bar_goes_to_stderr_when_asked(customer, grant):
    grant(customer, "email")
    out, err = io.StringIO(), io.StringIO()
    call_command("verify_audit", progress="always", stdout=out, stderr=err)
    assert out.getvalue().startswith("OK: ")
    assert "entries" in err.getvalue()  # the bar's unit
    assert "100%" in err.getvalue()


def test_a_small_log_prints_the_summary_line_alone(customer, grant):
    grant(customer, "email")
    out, err = io.StringIO(), io.StringIO()
    call_command("verify_audit", stdout=out, stderr=err)
    assert out.getvalue().count("\n") == 1
    assert err.getvalue() == ""
