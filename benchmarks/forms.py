"""Benchmark of consent forms: generating a form, signing and sealing it.

    python benchmarks/forms.py [--runs N] [--warmup N] [--no-docs]

Run from the project root (``make benchmark``). Works on a scratch SQLite database in a
temporary directory (the database is not what is measured: a form's writes are a handful of
rows), with a throwaway seal (ECDSA P-256) and the vendored fonts.

Measured, interleaved run by run after a warm-up, in milliseconds:
1. blank page: ``weasyprint.HTML(string="<p>.</p>").write_pdf()``, WeasyPrint's own floor;
2. generate: ``collect_branch_answers`` with "Oui" on both channels (render the one-page
   PDF/A-3b form, hash, store, write the states, the form and the log entries);
3. sign and seal: ``sign_on_tablet`` (check the drawing, render the signed PDF with its
   evidence page and two attachments, seal it with pyHanko, hash, store, write);
4. verify: ``verify_sealed_pdf`` on the sealed file (intact, trusted, entire file).

Prints a Markdown report, writes it into docs/PERFORMANCE.md (section "Consent forms") and
exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import base64
import ctypes.util
import datetime as dt
import math
import os
import platform
import resource
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from report import PROJECT_DIR, REPORT_PATH, wrap, write_section

SECTION_TITLE = "## Consent forms"
GENERATE_TARGET_MS = 250.0  # median
SEAL_TARGET_MS = 400.0  # median


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def configure_django(var_dir: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "optin.settings"
    os.environ["DATABASE_URL"] = ""
    os.environ["OPTIN_VAR_DIR"] = str(var_dir)
    os.environ["DEBUG"] = "false"
    os.environ["SECRET_KEY"] = "benchmark-only-" + secrets.token_urlsafe(32)
    os.environ["OPTIN_AUDIT_MASTER_KEY"] = base64.b64encode(os.urandom(32)).decode("ascii")
    os.environ["OPTIN_SUPPRESSION_KEY"] = "benchmark-only-" + secrets.token_urlsafe(32)
    for name in ("OPTIN_SEAL_PKCS12_PATH", "OPTIN_SEAL_PASSPHRASE", "OPTIN_CHECKPOINT_KEY_PATH"):
        os.environ.pop(name, None)
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    index = max(0, math.ceil(fraction * len(ordered)) - 1)
    return ordered[index]


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = function()
    return (time.perf_counter() - start) * 1000, result


def subsetter() -> str:
    """Which font subsetter WeasyPrint uses: HarfBuzz's library when present, else fontTools."""
    if ctypes.util.find_library("harfbuzz-subset"):
        return "HarfBuzz (libharfbuzz-subset0)"
    return "fontTools (libharfbuzz-subset0 missing: about three times slower)"


def run(runs: int, warmup: int) -> dict[str, Any]:
    import weasyprint
    from django.core.management import call_command

    from clients.models import Role
    from clients.services import create_client, create_staff_member
    from optin.audit import Actor
    from signatures import files, sealing
    from signatures.services import (
        BranchAnswer,
        SignerContext,
        collect_branch_answers,
        sign_on_tablet,
    )

    sys.path.insert(0, str(PROJECT_DIR))
    from tests.signatures.drawing import tablet_input

    call_command("migrate", verbosity=0)
    call_command("create_local_keys", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    system = Actor.system("benchmark")
    from clients.models import Branch

    branch = Branch.objects.create(code="B900", name="Agence Benchmark")
    advisor = create_staff_member(
        actor=system,
        username="bench",
        password=secrets.token_urlsafe(16),
        role=Role.ADVISOR,
        branch=branch,
        first_name="Camille",
        last_name="Martin",
    )
    signer = SignerContext(ip="198.51.100.7", user_agent="benchmark", session_ref="bench")
    drawn = tablet_input()
    answers = {
        "email": BranchAnswer("yes", "email-v1"),
        "sms_push": BranchAnswer("yes", "sms_push-v1"),
    }

    def new_client(n: int) -> Any:
        return create_client(
            actor=system,
            client_number=f"B{n:07d}",
            kind="individual",
            first_name="Jeanne",
            last_name=f"Dupont-Lefèvre {n}",
            birth_date=dt.date(1980, 5, 17),
            email=f"jeanne.dupont{n}@exemple.fr",
            mobile=f"+3361234{n:04d}",
            branch=branch,
        )

    samples: dict[str, list[float]] = {"blank": [], "generate": [], "seal": [], "verify": []}
    sizes: dict[str, int] = {}
    for n in range(warmup + runs):
        client = new_client(n)
        blank_ms, _pdf = timed(lambda: weasyprint.HTML(string="<p>.</p>").write_pdf())
        generate_ms, collected = timed(
            lambda c=client: collect_branch_answers(
                client=c, answers=answers, advisor=advisor, journey="branch_account_opening"
            )
        )
        form = collected.form
        seal_ms, signed = timed(
            lambda f=form, c=client: sign_on_tablet(
                client_number=c.client_number,
                reference=f.reference,
                advisor=advisor,
                identity_document="id_card",
                context=signer,
                **drawn,
            )
        )
        sealed = files.read(signed.signed_pdf)
        verify_ms, check = timed(lambda s=sealed: sealing.verify_sealed_pdf(s))
        if not check.ok:
            raise RuntimeError(f"the sealed form does not verify: {check.reason}")
        if n >= warmup:
            for name, value in (
                ("blank", blank_ms),
                ("generate", generate_ms),
                ("seal", seal_ms),
                ("verify", verify_ms),
            ):
                samples[name].append(value)
        sizes = {"form": len(files.read(form.pdf)), "sealed": len(sealed)}
        if n in (warmup - 1, warmup + runs - 1):
            log(f"run {n + 1}: generate {generate_ms:.0f} ms, sign and seal {seal_ms:.0f} ms")
    return {
        "samples": samples,
        "sizes": sizes,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "weasyprint": weasyprint.__version__,
        "seal_key": "ECDSA P-256 (development seal)",
    }


def render(results: dict[str, Any], runs: int, warmup: int) -> tuple[str, bool]:
    s = results["samples"]
    stats = {
        name: (statistics.median(values), percentile(values, 0.95)) for name, values in s.items()
    }
    met_generate = stats["generate"][0] <= GENERATE_TARGET_MS
    met_seal = stats["seal"][0] <= SEAL_TARGET_MS
    load = os.getloadavg()[0]
    machine = (
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPU, {platform.system()} {platform.release()}"
    )
    lines = [
        SECTION_TITLE,
        "",
        "`make benchmark` also runs `benchmarks/forms.py` (options `--runs N`, default 50; "
        "`--warmup N`, default 5; `--no-docs`). It needs no server: a scratch SQLite database "
        "and a throwaway development seal in a temporary directory. It rewrites this section "
        "and exits 1 when a target is missed.",
        "",
        "### Results",
        "",
        f"Measured on {dt.datetime.now(dt.UTC).date().isoformat()}: {machine}; WeasyPrint "
        f"{results['weasyprint']}, font subsetting by {subsetter()}; seal key "
        f"{results['seal_key']}. {runs} runs after {warmup} warm-up runs, the four measures "
        f"interleaved in each run; load average (1 min) at the end {load:.2f}.",
        "",
        "| Measure | Median ms | p95 ms |",
        "|---|---:|---:|",
        f"| WeasyPrint, blank page (reference) | {stats['blank'][0]:.0f} | "
        f"{stats['blank'][1]:.0f} |",
        f"| Generate a form (`collect_branch_answers`, two channels) | "
        f"{stats['generate'][0]:.0f} | {stats['generate'][1]:.0f} |",
        f"| Sign and seal (`sign_on_tablet`) | {stats['seal'][0]:.0f} | {stats['seal'][1]:.0f} |",
        f"| Verify a sealed form (`verify_sealed_pdf`) | {stats['verify'][0]:.0f} | "
        f"{stats['verify'][1]:.0f} |",
        "",
        f"- Generate: render the one-page PDF/A-3b form (vendored DejaVu Sans subset, QR code "
        f"of the reference), hash and store it, two `consent.requested` entries, the form and "
        f"`form.generated`, in one transaction. Form: {results['sizes']['form'] / 1024:.0f} KB.",
        f"- Sign and seal: check the PNG and its 240 points, render the two-page signed PDF "
        f"(signature, evidence page, `evidence.json` and `signature-points.json` attached), "
        f"seal it (PAdES B-B, certified, no change allowed), hash and store three files, "
        f"`form.signed` and two `consent.granted` entries. Sealed PDF: "
        f"{results['sizes']['sealed'] / 1024:.0f} KB.",
        f"- Peak resident memory of the process: {results['rss_mb']:.0f} MB.",
        "",
        "### Targets",
        "",
        "| Target | Measured | Met |",
        "|---|---:|---|",
        f"| generate ≤ {GENERATE_TARGET_MS:.0f} ms median | {stats['generate'][0]:.0f} ms | "
        f"{'yes' if met_generate else '**no**'} |",
        f"| sign and seal ≤ {SEAL_TARGET_MS:.0f} ms median | {stats['seal'][0]:.0f} ms | "
        f"{'yes' if met_seal else '**no**'} |",
    ]
    return "\n".join(wrap(line) for line in lines) + "\n", met_generate and met_seal


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--no-docs", action="store_true", help="do not write the report")
    args = parser.parse_args(argv)
    if args.runs < 2 or args.warmup < 1:
        parser.error("--runs must be at least 2 and --warmup at least 1")
    var_dir = Path(tempfile.mkdtemp(prefix="optin-forms-bench-"))
    try:
        configure_django(var_dir)
        results = run(args.runs, args.warmup)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    report, met = render(results, args.runs, args.warmup)
    print(report)
    if not args.no_docs:
        write_section(SECTION_TITLE, report)
        log(f"written to {REPORT_PATH.relative_to(PROJECT_DIR)}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
