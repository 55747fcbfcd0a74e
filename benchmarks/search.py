"""Benchmark of the customer search on PostgreSQL: a million customers, fifty branches.

    python benchmarks/search.py [--customers N] [--calls N] [--keep] [--no-docs]

Run from the project root (``make benchmark``). DATABASE_URL names the PostgreSQL server and a
scratch database name starting with ``optin_bench`` (default
postgres://postgres@127.0.0.1:5432/optin_bench); this benchmark works in its own database, that
name followed by ``_search``, which it drops, creates afresh and migrates, and drops again at the
end unless ``--keep``.

1. Data: ``--customers`` customers (default 1,000,000) spread over 50 branches, loaded with COPY:
   French last names (about 200, the frequent ones more frequent, some accented, hyphenated or
   with an apostrophe) and first names (about 100), e-mail addresses, E.164 mobiles,
   ``search_name`` written with ``clients.models.search_key`` like ``Client.save()`` does; the
   other columns take their model defaults. Then VACUUM ANALYZE.
2. Searches: ``clients.selectors.search_clients`` for an advisor (one branch) and for compliance
   (all branches), by client number, by e-mail (typed in capitals), by mobile (typed in the
   national format), by a common last-name prefix (first page and page 20), by a whole last name
   and by "first last"; ``--calls`` calls of each (default 20), interleaved, after one warm-up
   round. Exact searches look for a different customer on each call. Each call is timed from a
   freshly loaded user, so the staff profile's query (R55's scope) is counted. The plan of each
   search is read with ``EXPLAIN (ANALYZE, BUFFERS)``.

Prints a Markdown report, writes it into docs/PERFORMANCE.md (section "Customer search", the
other sections are kept) and exits 1 when a search misses its target (median ≤ 100 ms).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import math
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from audit_log import (
    DEFAULT_DATABASE_URL,
    BenchmarkError,
    close_connections,
    configure_django,
    create_database,
    drop_database,
    log,
    machine_description,
    scratch_database,
)
from psycopg import sql
from report import conclude, wrap

SECTION_TITLE = "## Customer search"
DATABASE_SUFFIX = "_search"

TARGET_MEDIAN_MS = 100.0  # every search, median of its calls
MILLION = 1_000_000
BRANCHES = 50
COPY_BATCH = 100_000  # customers per COPY, one transaction each
SEED = 20_261_124
PAGE_20 = 20


def words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# About 200 French last names, the most frequent first: customers draw them with weights
# 1 / (rank + 10), so that "Martin" is about 3 % of the customers (30,000 in a million, 600 in
# a branch: enough matches for a 20th page in one branch).
LAST_NAMES = (
    *words(
        "Martin Bernard Thomas Petit Robert Richard Durand Dubois Moreau Laurent Simon Michel "
        "Lefèvre Leroy Roux David Bertrand Morel Fournier Girard Bonnet Dupont Lambert Fontaine "
        "Rousseau Vincent Muller Faure André Mercier Blanc Guérin Boyer Garnier Chevalier François "
        "Legrand Gauthier Garcia Perrin Robin Clément Morin Nicolas Henry Roussel Mathieu Gautier "
        "Masson Marchand Duval Denis Dumont Marie Lemaire Noël Meyer Dufour Meunier Brun Blanchard "
        "Giraud Joly Rivière Lucas Brunet Gaillard Barbier Arnaud Martinez Gérard Roche Renard "
        "Schmitt Roy Leroux Colin Vidal Caron Picard Roger Fabre Aubert Lemoine Renaud Dumas "
        "Lacroix Olivier Philippe Bourgeois Pierre Benoît Rey Leclerc Payet Rolland Leclercq "
        "Guillaume Lecomte Lopez Jean Dupuy Guillot Hubert Berger Carpentier Sanchez Dupuis Moulin "
        "Louis Deschamps Huet Vasseur Perez Boucher Fleury Royer Klein Jacquet Adam Paris Poirier "
        "Marty Aubry Guyot Carré Charles Renault Charpentier Ménard Maillard Baron Bertin Bailly "
        "Hervé Schneider Fernandez Collet Léger Bouvier Julien Prévost Millet Perrot Daniel Cousin "
        "Germain Breton Besson Langlois Rémy Pelletier Lévêque Perrier Leblanc Barré Lebrun "
        "Marchal Weber Mallet Hamon Boulanger Jacob Monnier Michaud Rodriguez Guichard Gillet "
        "Étienne Grondin Poulain Tessier Chevallier Collin Chauvin Bouchet Gay Lemaître Bénard "
        "Maréchal Humbert Reynaud Antoine Hoarau Perret Barthélemy Cordier Pichon Lejeune Gilbert "
        "Lamy Delaunay Pasquier Carlier Laporte"
    ),
    "Le Gall",
    "Le Roux",
    "Le Goff",
    "Da Silva",
    "Le Floc'h",
    "d'Almeida",
    "N'Diaye",
    "Saint-Martin",
    "Lefèvre-Pontalis",
    "d'Arc-Dupont",
)
FIRST_NAMES = words(
    "Marie Jean Pierre Michel André Philippe Nathalie Isabelle Sylvie Catherine Françoise "
    "Jacques Alain Bernard Christine Patrick Monique Nicolas Christophe Sophie Daniel Valérie "
    "Stéphane Sandrine Laurent Céline Frédéric Véronique Julien Aurélie Éric Nicole Olivier "
    "Chantal David Jeanne Thomas Camille Léa Manon Chloé Emma Inès Hugo Lucas Louis Gabriel "
    "Arthur Jules Raphaël Hélène Élodie Émilie Anaïs Mélanie Noémie Zoé Agnès Josiane Gérard "
    "René Sébastien Jérôme Thierry Pascal Didier Bruno Denis François Guillaume Antoine Maxime "
    "Alexandre Benoît Cédric Jean-Pierre Jean-Luc Marie-Claire Anne-Sophie Jean-Claude "
    "Marie-Thérèse Pauline Julie Laura Sarah Clara Lina Alice Louise Margaux Océane Yannick "
    "Mathis Noah Théo Enzo Mathéo Axel Romane Agathe"
)
DOMAINS = (
    "orange.fr",
    "gmail.com",
    "free.fr",
    "laposte.net",
    "sfr.fr",
    "hotmail.fr",
    "yahoo.fr",
    "wanadoo.fr",
    "outlook.fr",
    "icloud.com",
)

# The searches measured: (label, how the text is chosen, page). "number", "email" and "mobile"
# take a different customer of the scope on each call; the others are fixed texts.
PREFIX, LAST_NAME, FIRST_LAST = "mar", "martin", "jean martin"
SEARCHES: tuple[tuple[str, str, int], ...] = (
    ("Client number", "number", 1),
    ("E-mail, typed in capitals", "email", 1),
    ("Mobile, typed `06 12 34 56 78`", "mobile", 1),
    (f'Last-name prefix "{PREFIX}", page 1', PREFIX, 1),
    (f'Last-name prefix "{PREFIX}", page {PAGE_20}', PREFIX, PAGE_20),
    (f'Last name "{LAST_NAME}", page 1', LAST_NAME, 1),
    (f'First and last name "{FIRST_LAST}"', FIRST_LAST, 1),
)
SCOPES = ("advisor", "compliance")


@dataclass(frozen=True)
class Sample:
    """A customer the exact searches look for."""

    number: str
    email: str
    mobile: str
    branch: int  # index in the list of branches


@dataclass(frozen=True)
class LoadFigures:
    customers: int
    seconds: float
    table_mb: float
    indexes_mb: float
    matches: dict[str, int]  # customers whose name begins with each name searched
    samples: list[Sample]


@dataclass
class Measure:
    label: str
    scope: str
    typed: str  # an example of the text typed
    times_ms: list[float]
    found: int  # customers on the page (of the example)
    has_next: bool
    queries: int  # SQL statements of one call
    plan: str  # EXPLAIN (ANALYZE, BUFFERS) of the search's statement

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        return percentile(self.times_ms, 0.95)

    @property
    def met(self) -> bool:
        return self.median <= TARGET_MEDIAN_MS


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


# --- the database -----------------------------------------------------------------------------


def search_database_url(url: str) -> str:
    """The URL of this benchmark's own database: DATABASE_URL's name followed by _search."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name.endswith(DATABASE_SUFFIX):
        name += DATABASE_SUFFIX
    return urlunsplit(parts._replace(path=f"/{name}"))


def customers(count: int, branch_ids: Sequence[int], rng: random.Random) -> Iterator[list[Any]]:
    """Rows of clients_client in the order of `columns()`."""
    from clients.models import search_key

    cumulated = list(itertools.accumulate(1 / (rank + 10) for rank in range(len(LAST_NAMES))))
    keys: dict[tuple[str, str], str] = {}
    plain: dict[str, str] = {}  # a name as it may appear in an e-mail address

    def ascii_part(name: str) -> str:
        if name not in plain:
            plain[name] = search_key(name).replace(" ", "-")
        return plain[name]

    today = dt.datetime.now(dt.UTC).date()
    for n in range(count):
        last = rng.choices(LAST_NAMES, cum_weights=cumulated)[0]
        first = rng.choice(FIRST_NAMES)
        key = keys.get((last, first))
        if key is None:
            key = keys[last, first] = search_key(f"{last} {first}")
        local = f"{ascii_part(first)}.{ascii_part(last)}{n}"
        if n % 10 == 0:  # R66 keeps the local part as typed: some have capitals
            local = local.title()
        email = f"{local}@{DOMAINS[n % len(DOMAINS)]}" if n % 8 else ""
        # Distinct valid mobiles: 06 1 then a permutation of seven digits (06 39 and 06 9x are
        # overseas numbers); one customer in six has none.
        mobile = f"+3361{(n * 7_919 + 1_234_567) % 10_000_000:07d}" if n % 6 else ""
        age_days = rng.randrange(18 * 366, 95 * 365)
        yield [
            f"C{n + 1:08d}",
            "individual",
            first,
            last,
            key,
            today - dt.timedelta(days=age_days),
            email,
            mobile,
            branch_ids[rng.randrange(len(branch_ids))],
            "customer" if n % 5 else "prospect",
        ]


COPIED = (
    "client_number",
    "kind",
    "first_name",
    "last_name",
    "search_name",
    "birth_date",
    "email",
    "mobile",
    "branch_id",
    "status",
)


def columns() -> tuple[list[str], list[Any]]:
    """Every column of clients_client but the id: those COPY fills from `customers()`, then
    the others with their model defaults (COPY does not apply Django's defaults)."""
    from clients.models import Client

    names = list(COPIED)
    defaults: list[Any] = []
    for field in Client._meta.concrete_fields:
        if field.primary_key or field.column is None or field.column in COPIED:
            continue
        if field.has_default():
            value = field.get_default()
        elif field.null:
            value = None
        else:
            raise BenchmarkError(f"no value for the column {field.column} of clients_client")
        names.append(field.column)
        defaults.append(value)
    return names, defaults


def load(count: int) -> LoadFigures:
    from django.db import connection, transaction

    from clients.models import Branch, Client, search_key

    started = time.perf_counter()
    rng = random.Random(SEED)
    branches = Branch.objects.bulk_create(
        [Branch(code=f"S{n:03d}", name=f"Agence {n}") for n in range(BRANCHES)]
    )
    branch_ids = [branch.pk for branch in branches]
    branch_index = {pk: i for i, pk in enumerate(branch_ids)}
    names, defaults = columns()
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(Client._meta.db_table),
        sql.SQL(", ").join(sql.Identifier(name) for name in names),
    )
    rows = customers(count, branch_ids, rng)
    samples: list[Sample] = []
    sample_every = max(1, count // 2_000)
    done = 0
    while done < count:
        size = min(COPY_BATCH, count - done)
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            cursor.cursor.copy(copy_sql) as copy,
        ):
            for _ in range(size):
                row = next(rows)
                number, email, mobile, branch_id = row[0], row[6], row[7], row[8]
                if done % sample_every == 0 and email and mobile:
                    samples.append(Sample(number, email, mobile, branch_index[branch_id]))
                copy.write_row(row + defaults)
                done += 1
        log(f"  customers {done:,} / {count:,}")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE clients_client")
        cursor.execute("SELECT pg_table_size('clients_client'), pg_indexes_size('clients_client')")
        table_bytes, index_bytes = cursor.fetchone()
        matches: dict[str, int] = {}
        for text in (PREFIX, LAST_NAME, FIRST_LAST):
            key = search_key(text)
            words = key.split()
            swapped = " ".join([*words[1:], words[0]])
            cursor.execute(
                "SELECT count(*) FROM clients_client WHERE search_name LIKE %s "
                "OR search_name LIKE %s",
                [f"{key}%", f"{swapped}%"],
            )
            matches[text] = cursor.fetchone()[0]
    return LoadFigures(
        customers=count,
        seconds=time.perf_counter() - started,
        table_mb=table_bytes / 1024**2,
        indexes_mb=index_bytes / 1024**2,
        matches=matches,
        samples=samples,
    )


# --- the searches -----------------------------------------------------------------------------


def national(mobile: str) -> str:
    """+33612345678 as an advisor types it: 06 12 34 56 78."""
    digits = "0" + mobile.removeprefix("+33")
    return " ".join(digits[i : i + 2] for i in range(0, len(digits), 2))


def texts_for(kind: str, samples: Sequence[Sample], branch: int | None) -> Iterator[str]:
    """Endless texts of one kind of search, for customers of the scope."""
    mine = [s for s in samples if branch is None or s.branch == branch]
    if not mine:
        raise BenchmarkError("no sample customer in the advisor's branch")
    rng = random.Random(f"{SEED}-{kind}-{branch}")
    while True:
        if kind not in ("number", "email", "mobile"):
            yield kind
            continue
        sample = rng.choice(mine)
        if kind == "number":
            yield sample.number
        elif kind == "email":
            yield sample.email.upper()
        else:
            yield national(sample.mobile)


def explain(user: Any, text: str, page: int) -> tuple[str, int]:
    """The plan of the search's statement run with ANALYZE, and the statements of a call."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from clients.selectors import search_clients

    with CaptureQueriesContext(connection) as captured:
        search_clients(user, text, page)
    statements = [q["sql"] for q in captured.captured_queries]
    search = next(s for s in statements if 'FROM "clients_client"' in s)
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {search}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return plan, len(statements)


def bench_searches(figures: LoadFigures, calls: int) -> list[Measure]:
    from django.contrib.auth.models import User

    from clients.models import Branch, Role
    from clients.selectors import search_clients
    from clients.services import create_staff_member
    from optin.audit import Actor

    system = Actor.system("benchmark")
    branch_index = figures.samples[0].branch
    branch = Branch.objects.get(code=f"S{branch_index:03d}")
    staff = {
        "advisor": create_staff_member(
            actor=system, username="advisor", password=None, role=Role.ADVISOR, branch=branch
        ),
        "compliance": create_staff_member(
            actor=system, username="compliance", password=None, role=Role.COMPLIANCE
        ),
    }
    plans: list[tuple[str, str, str, int, Callable[[], str]]] = []
    for scope in SCOPES:
        scope_branch = branch_index if scope == "advisor" else None
        for label, kind, page in SEARCHES:
            source = texts_for(kind, figures.samples, scope_branch)
            plans.append((label, scope, kind, page, source.__next__))

    measures = {
        (label, scope): Measure(label, scope, "", [], 0, False, 0, "")
        for label, scope, _kind, _page, _next in plans
    }
    for round_no in range(calls + 1):  # the first round warms up
        for label, scope, kind, page, next_text in plans:
            text = next_text()
            user = User.objects.get(pk=staff[scope].pk)
            started = time.perf_counter()
            result = search_clients(user, text, page)
            elapsed = (time.perf_counter() - started) * 1000
            measure = measures[label, scope]
            if round_no == 0:
                measure.typed, measure.found, measure.has_next = (
                    text,
                    len(result.clients),
                    result.has_next,
                )
                if not result.clients and page == 1:
                    raise BenchmarkError(f"{label} ({scope}): {text!r} found nobody")
            else:
                measure.times_ms.append(elapsed)
            if kind in ("number", "email", "mobile") and len(result.clients) != 1:
                raise BenchmarkError(f"{label} ({scope}): {text!r} found {len(result.clients)}")
        if round_no:
            log(f"  round {round_no}/{calls}")

    for label, scope, _kind, page, _next in plans:
        measure = measures[label, scope]
        user = User.objects.get(pk=staff[scope].pk)
        measure.plan, measure.queries = explain(user, measure.typed, page)
        log(f"  plan of {label} ({scope}), {measure.typed!r}:\n{measure.plan}")
    return list(measures.values())


# --- report -----------------------------------------------------------------------------------

_SCAN = re.compile(
    r"(Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan)(?: Backward)? (?:using|on) (\w+)"
)
_REMOVED = re.compile(r"Rows Removed by Filter: (\d+)")


def plan_summary(plan: str) -> str:
    """The scans of the customers' table, and the rows they read for nothing.

    An index scan without an index condition walks the whole index in its order.
    """
    lines = plan.splitlines()
    scans: list[str] = []
    for i, line in enumerate(lines):
        match = _SCAN.search(line)
        if match is None or match.group(2).startswith("clients_branch"):
            continue
        kind, name = match.groups()
        node = itertools.takewhile(lambda text: "->" not in text, lines[i + 1 :])
        if kind == "Seq Scan":
            entry = f"seq scan of {name}"
        elif any("Index Cond:" in text for text in node):
            entry = f"`{name}`"
        else:
            entry = f"`{name}`, whole index in order"
        if entry not in scans:
            scans.append(entry)
    removed = sum(int(n) for n in _REMOVED.findall(plan))
    text = ", ".join(scans) or "?"
    if removed:
        text += f"; {removed:,} rows read and dropped by the filter"
    return text


def render(
    figures: LoadFigures, measures: Sequence[Measure], machine: str, calls: int, load: float
) -> str:
    met = sum(m.met for m in measures)
    statements = " or ".join(str(n) for n in sorted({m.queries for m in measures}))
    lines = [
        SECTION_TITLE,
        "",
        "`make benchmark` also runs `benchmarks/search.py` (options `--customers N`, default "
        "1,000,000; `--calls N`, default 20; `--keep`; `--no-docs`). It needs PostgreSQL: it "
        "works in its own database, the name of `DATABASE_URL`'s database followed by "
        "`_search` (default `optin_bench_search`), which it drops, creates and migrates, and "
        "drops at the end unless `--keep`. It rewrites this section and exits 1 when a search "
        f"misses its target (median ≤ {TARGET_MEDIAN_MS:.0f} ms).",
        "",
        "### Results",
        "",
        f"Measured on {dt.datetime.now(dt.UTC).date().isoformat()}: {machine}. Load average "
        f"(1 min) when the searches began: {load:.2f}.",
        "",
        f"Data: {figures.customers:,} customers in {BRANCHES} branches (about "
        f"{figures.customers // BRANCHES:,} each), loaded with COPY in "
        f"{figures.seconds:.0f} s, then VACUUM ANALYZE: table {figures.table_mb:,.0f} MB, its "
        f"indexes {figures.indexes_mb:,.0f} MB. {len(LAST_NAMES)} French last names (the "
        f"frequent ones more frequent: weight 1 / (rank + 10)), {len(FIRST_NAMES)} first "
        f'names; names beginning with "{PREFIX}": {figures.matches[PREFIX]:,} customers, '
        f'"{LAST_NAME}": {figures.matches[LAST_NAME]:,}, "{FIRST_LAST}" either way: '
        f"{figures.matches[FIRST_LAST]:,}. Seven customers in eight have an e-mail address, "
        f"five in six a mobile.",
        "",
        f"`search_clients` called {calls} times for each search after a warm-up round, the "
        f"searches interleaved; the exact ones look for a different customer of the scope on "
        f"each call. Times from a freshly loaded user, so they include the staff profile's "
        f"query ({statements} SQL statements per search). Plan: the scans of the customers' "
        f"table in `EXPLAIN (ANALYZE, BUFFERS)`.",
        "",
        "| Search | Scope | Found (page) | Median ms | p95 ms | Plan |",
        "|---|---|---:|---:|---:|---|",
    ]
    for m in measures:
        found = f"{m.found}{'+' if m.has_next else ''}"
        lines.append(
            f"| {m.label} | {m.scope} | {found} | {m.median:.1f} | {m.p95:.1f} | "
            f"{plan_summary(m.plan)} |"
        )
    lines += [
        "",
        '"Found" is the number of customers on the page, "+" when there is a next page.',
        "",
        "### Targets",
        "",
        "| Target | Measured | Met |",
        "|---|---:|---|",
        f"| every search ≤ {TARGET_MEDIAN_MS:.0f} ms median | "
        f"{met} of {len(measures)}; slowest {max(m.median for m in measures):.1f} ms | "
        f"{'yes' if met == len(measures) else '**no**'} |",
    ]
    return "\n".join(wrap(line) for line in lines) + "\n"


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=MILLION, help="customers to load")
    parser.add_argument("--calls", type=int, default=20, help="timed calls of each search")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--no-docs", action="store_true", help="do not write the report")
    args = parser.parse_args(argv)
    if args.customers < 10_000 or args.calls < 2:
        parser.error("--customers must be at least 10,000 and --calls at least 2")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    database_url = search_database_url(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    try:
        params = scratch_database(database_url)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    var_dir = Path(tempfile.mkdtemp(prefix="optin-search-bench-"))
    log(f"database {params['NAME']} on {params.get('HOST') or 'the local socket'}")
    create_database(params)
    try:
        configure_django(database_url, var_dir)
        from django.core.management import call_command

        log("migrating")
        call_command("migrate", interactive=False, verbosity=0)
        log(f"loading {args.customers:,} customers")
        figures = load(args.customers)
        log(f"  loaded in {figures.seconds:.0f} s")
        load_average = os.getloadavg()[0]
        log(f"searching, {args.calls} calls of each search")
        measures = bench_searches(figures, args.calls)
        machine = machine_description()
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        close_connections()
        if args.keep:
            log(f"kept database {params['NAME']}")
        else:
            drop_database(params)
        shutil.rmtree(var_dir, ignore_errors=True)

    report = render(figures, measures, machine, args.calls, load_average)
    return conclude(
        SECTION_TITLE,
        report,
        [(f"{m.label} ({m.scope})", f"{m.median:.1f} ms", m.met) for m in measures],
        write_docs=not args.no_docs,
    )


if __name__ == "__main__":
    sys.exit(main())
