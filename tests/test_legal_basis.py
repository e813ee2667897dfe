"""A case's legal basis cites only what was in force on the step's day, and the policy files
cite public documents (orders, statutes, rulings, articles with their titles and dates), never
a file of this repository."""

from __future__ import annotations

import datetime as dt
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_agencies import PRACTICE, booking, detainer_for, rng

from scomm.agencies import court, jail
from scomm.agencies.citations import DETAINER_IS_A_REQUEST, PROSECUTORIAL_DISCRETION, cited_on
from scomm.policies import flow
from scomm.policies.tables import rules_in_force

UTC = dt.UTC
POLICIES = Path(str(resources.files("scomm.policies")))
DATASETS = Path(str(resources.files("scomm.jurisdictions") / "datasets.json"))
# What names a file of ours: the brief, the seed articles by file, a package path, a file.
OURS = re.compile(
    r"DOMAIN\.md|seeds/|scomm/|\.ya?ml\b|\.py\b|\.md\b|\.csv\b|lead's brief|\bthe seeds\b", re.I
)
YEAR = re.compile(r"\b(?:19|20)\d\d\b")


def _template() -> dict[str, Any]:
    at = dt.datetime(2013, 6, 3, 14, tzinfo=UTC)
    return detainer_for(booking(), rules_in_force("06037", at.date()), at)


TEMPLATE = _template()


def _answer_basis(county: str, day: dt.date) -> str:
    at = dt.datetime.combine(day, dt.time(14), tzinfo=UTC)
    rules = rules_in_force(county, day)
    b = booking(county_fips=county, booked_at=f"{day.isoformat()}T10:00:00+00:00")
    # The detainer ICE would lodge that day (its form by the regime), whatever ICE's choice.
    detainer = {**TEMPLATE, "form": rules.regime.detainer_form, "issued_at": at.isoformat()}
    answer = jail.receive_detainer(at, b, [], detainer, rules, PRACTICE, rng()).events[0]
    assert answer.step == "jail.detainer_answer", answer.step
    return answer.legal_basis


def test_a_2013_detainer_answer_does_not_cite_a_2014_ruling() -> None:
    before = _answer_basis("06037", dt.date(2013, 6, 3))
    after = _answer_basis("06037", dt.date(2014, 6, 3))
    assert "Galarza" not in before and "8 CFR 287.7" in before
    assert "Galarza" in after


@pytest.mark.parametrize("county", ["06037", "06085", "42101", "12086", "41051", "11001"])
@pytest.mark.parametrize("year", [2009, 2011, 2013, 2014, 2016])
def test_no_detainer_answer_cites_a_later_year(county: str, year: int) -> None:
    basis = _answer_basis(county, dt.date(year, 3, 1))
    later = [y for y in YEAR.findall(basis) if int(y) > year]
    assert not later, f"{county} on {year}-03-01 cites {later}: {basis}"


def test_prosecutorial_discretion_cites_the_memo_in_force() -> None:
    assert "Meissner" in cited_on(PROSECUTORIAL_DISCRETION, dt.date(2010, 1, 1))
    assert "Morton" in cited_on(PROSECUTORIAL_DISCRETION, dt.date(2011, 6, 17))
    assert "Galarza" not in cited_on(DETAINER_IS_A_REQUEST, dt.date(2014, 3, 3))
    assert "Galarza" in cited_on(DETAINER_IS_A_REQUEST, dt.date(2014, 3, 4))


def test_a_case_closed_in_discretion_in_2010_cites_the_memo_of_its_time() -> None:
    # Draw outcomes until one is a closure in discretion (seeded: the same every run).
    at = dt.datetime(2010, 5, 1, tzinfo=UTC)
    for seed in range(400):
        result = court.proceedings(at, "non_criminal", PRACTICE, rng(seed)).events[0]
        if result.payload["result"] == flow.OUTCOME_NAMES[flow.DISCRETION]:
            assert "2011" not in result.legal_basis and "Meissner" in result.legal_basis
            return
    pytest.skip("no closure in discretion drawn in 400 seeds at these rates")


def _sources(node: Any, where: str) -> list[tuple[str, str]]:
    """Every value under a key named source or sources, with where it is."""
    out: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}"
            if key in ("source", "sources"):
                values = value.values() if isinstance(value, dict) else [value]
                out += [(here, str(v)) for v in (values if not isinstance(value, list) else value)]
            else:
                out += _sources(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _sources(value, f"{where}[{i}]")
    return out


def _policy_sources() -> list[tuple[str, str]]:
    out = []
    for path in sorted(POLICIES.rglob("*.yaml")):
        out += _sources(yaml.safe_load(path.read_text()), path.name)
    return out


def test_policy_sources_name_no_file_of_ours() -> None:
    found = _policy_sources()
    assert len(found) > 60  # every period of every file, the scenarios, the practice
    ours = [(where, text) for where, text in found if OURS.search(text)]
    assert not ours, "\n".join(f"{w}: {t}" for w, t in ours)


def test_policy_sources_are_dated_public_documents() -> None:
    # Assumptions are said to be assumptions; every other source gives a year.
    undated = [
        (w, t)
        for w, t in _policy_sources()
        if not YEAR.search(t) and not t.startswith("assumption")
    ]
    assert not undated, "\n".join(f"{w}: {t}" for w, t in undated)


def test_the_jurisdictions_data_cite_their_public_origin() -> None:
    datasets = json.loads(DATASETS.read_text())["datasets"]
    assert datasets
    for d in datasets:
        assert d["origin"] and not OURS.search(d["origin"]), d["key"]
        assert d.get("origin_url", "").startswith(("http://", "https://")), d["key"]


# A document is named by its title in quotes, or as the law names it: a case (X v. Y), an
# order, statute, code section, ordinance, resolution, regulation, memorandum or letter.
NAMED = re.compile(
    r"'[^']{8,}'|\bv\. |Order|Act\b|Code\b|Ordinance|ordinance|Resolution|CFR|memorandum|"
    r"letter|Form I-247|Policy \d"
)


def test_policy_sources_name_a_document_by_title_or_legal_name() -> None:
    unnamed = [
        (w, t)
        for w, t in _policy_sources()
        if not NAMED.search(t) and not t.startswith(("assumption", "The orders, statutes"))
    ]
    assert not unnamed, "\n".join(f"{w}: {t}" for w, t in unnamed)


def test_every_citation_not_confirmed_says_what_and_why() -> None:
    """A citation written from memory and not found in a public copy is marked so in its
    period's ``unknown`` list ("Unverified: ..."), naming what was not found."""
    notes = []
    for path in sorted(POLICIES.rglob("*.yaml")):
        for period in (yaml.safe_load(path.read_text()) or {}).get("periods", []):
            for note in period.get("unknown", []):
                if note.startswith("Unverified"):
                    notes.append((path.name, note))
    assert notes, "the known unconfirmed citations (Lunn's reporter, Cook's number) are marked"
    for where, note in notes:
        assert "not found" in note and len(note) > 60, f"{where}: {note}"


def test_the_detainer_memo_of_2012_is_cited_by_its_title() -> None:
    regimes = (POLICIES / "federal" / "regimes.yaml").read_text()
    assert "'Civil Immigration Enforcement: Guidance on the Use of Detainers in the Federal" in (
        regimes
    )
    assert "Civil Immigration Detainers: Guidance Regarding" not in regimes
