"""The web application's parts that need no server: the vocabulary, case outcomes, reforms,
accounts and their CLI, `scomm cases`, the bins of the declines map."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from scomm.cli import app as cli_app
from scomm.errors import InputError
from scomm.outputs import CASE_OUTCOMES, OUTPUTS, PIPELINE_ONLY, csv_header, term
from scomm.pipeline.case import fold
from scomm.pipeline.outcomes import OUTCOMES, by_outcome, outcome_of
from scomm.pipeline.runs import get_run, list_runs, record_run, run_id_of
from scomm.simulation.results import HEADLINE, SHARES
from scomm.store.events import EventStore, NewEvent

UTC = dt.UTC
T0 = dt.datetime(2013, 6, 3, 9, tzinfo=UTC)


# --------------------------------------------------------------------------- vocabulary


@pytest.mark.parametrize("name", [*OUTPUTS, *PIPELINE_ONLY, *SHARES, *HEADLINE, *OUTCOMES])
def test_every_output_has_a_label_and_a_one_line_definition(name: str) -> None:
    t = term(name)
    assert t.label and t.label != name and "_" not in t.label
    assert t.definition.endswith(".") and "\n" not in t.definition
    assert len(t.definition) <= 100
    assert csv_header(name) == f"{t.label} ({name})"


def test_unknown_names_are_refused() -> None:
    with pytest.raises(InputError, match="no label"):
        term("removals_by_moonlight")


def test_labels_are_unambiguous() -> None:
    from scomm.outputs import FIGURES

    labels = [t.label for t in FIGURES.values()]
    assert len(labels) == len(set(labels))


# --------------------------------------------------------------------------- outcomes


class _E:
    def __init__(self, step: str, payload: dict[str, Any], hours: float = 0) -> None:
        self.step = step
        self.payload = payload
        self.occurred_at = T0 + dt.timedelta(hours=hours)


def _case(*steps: tuple[str, dict[str, Any]]) -> str:
    events = [_E("booking", {})] + [_E(s, p, i + 1) for i, (s, p) in enumerate(steps)]
    return outcome_of(fold("48453-20130603-000000", events))


def test_outcomes_follow_the_furthest_step() -> None:
    active = ("sib.routed", {"secure_communities": "active", "results_reach_agency": True})
    assert _case(active, ("ident.response", {"match": False}), ("released", {})) == (
        "no_ident_match"
    )
    assert _case(active, ("ident.response", {"match": False})) == "in_progress"
    matched = (active, ("ident.response", {"match": True}), ("ero.decision", {"level": "x"}))
    assert _case(*matched, ("released", {})) == "no_action"
    detainer = (*matched, ("detainer.issued", {"form": "I-247"}))
    assert _case(*detainer, ("jail.detainer_answer", {"honored": False})) == "detainer_declined"
    assert _case(*detainer, ("jail.detainer_answer", {"honored": True})) == "detainer_honored"
    assert _case(*detainer, ("detainer.stopped", {})) == "detainer_stopped"
    assert _case(*detainer, ("transfer", {})) == "transferred"
    removal = ("outcome", {"result": "voluntary_return", "level": "level_3"})
    assert _case(*detainer, ("transfer", {}), removal) == "removed"
    relief = ("outcome", {"result": "relief", "level": "level_3"})
    assert _case(*detainer, ("transfer", {}), relief) == "relief"
    notice = (*matched, ("detainer.issued", {"form": "I-247N"}))
    assert _case(*notice, ("released", {})) == "notification_request"
    off = ("sib.routed", {"secure_communities": "not_activated", "results_reach_agency": True})
    assert _case(off, ("released", {})) == "not_activated"


def test_by_outcome_groups_in_vocabulary_order() -> None:
    a = fold("a", [_E("booking", {}), _E("outcome", {"result": "removal", "level": "x"})])
    b = fold("b", [_E("booking", {})])
    groups = by_outcome([b, a])
    assert groups == {"in_progress": ["b"], "removed": ["a"]}
    assert list(CASE_OUTCOMES) == list(OUTCOMES)


# --------------------------------------------------------------------------- runs, `scomm cases`


def _store_with_run(url: str) -> list[str]:
    ids = [f"48453-20130603-{i:06d}" for i in range(3)]
    with EventStore.open(url) as store:
        for k, case_id in enumerate(ids):
            new = [NewEvent(case_id, "booking", "LEA", T0, {"county_fips": "48453"}, "arrest")]
            if k == 1:
                new.append(
                    NewEvent(
                        case_id,
                        "outcome",
                        "court",
                        T0 + dt.timedelta(days=30),
                        {"result": "removal", "level": "level_2"},
                        "INA 240",
                    )  # fmt: skip
                )
            store.append(*new)
        record_run(store, "48453", T0.date(), 1, 7, ids)
    return ids


def test_runs_are_recorded_and_listed(store_url: str) -> None:
    url = store_url
    ids = _store_with_run(url)
    with EventStore.open(url) as store:
        run_id = run_id_of("48453", T0.date(), 1, 7)
        assert [r.run_id for r in list_runs(store)] == [run_id]
        assert list_runs(store, county="06085") == []
        assert get_run(store, run_id).case_ids == tuple(ids)
        record_run(store, "48453", T0.date(), 1, 7, ids[:1])  # the same run again: replaced
        assert get_run(store, run_id).case_ids == (ids[0],)
        with pytest.raises(InputError, match="no such run"):
            get_run(store, "nope")


def test_a_cases_county_comes_from_its_booking_and_is_not_a_logged_read(store_url: str) -> None:
    booking = {"county_fips": "06085", "name": "A. Person"}
    with EventStore.open(store_url) as store:
        store.append(NewEvent("48453-x", "booking", "LEA", T0, booking, "state arrest law"))
        assert store.case_county("48453-x") == "06085"
        assert store.case_county("nope") is None
        assert store.audit_entries(subject="48453-x") == []


def test_scomm_cases_lists_a_runs_cases_by_outcome(tmp_path: Path) -> None:
    import json

    url = f"sqlite:///{tmp_path}/s.sqlite"
    ids = _store_with_run(url)
    run_id = run_id_of("48453", T0.date(), 1, 7)
    runner = CliRunner()
    out = runner.invoke(cli_app, ["cases", "--run", run_id, "--db", url, "--json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert [r["case_id"] for r in rows] == ids
    assert [r["outcome"] for r in rows] == ["in_progress", "removed", "in_progress"]
    only = runner.invoke(
        cli_app, ["cases", "--run", run_id, "--db", url, "--outcome", "removed", "--json"]
    )
    assert [r["case_id"] for r in json.loads(only.output)] == [ids[1]]
    table = runner.invoke(cli_app, ["cases", "--run", run_id, "--db", url])
    assert "Removed" in table.output and all(len(line) <= 80 for line in table.output.splitlines())
    bad = runner.invoke(cli_app, ["cases", "--run", run_id, "--db", url, "--outcome", "x"])
    assert bad.exit_code != 0
    with EventStore.open(url) as store:
        assert {r.reader for r in store.audit_entries()} >= {"cli"}  # the reads are logged


def test_outcome_examples_table_fits_80_columns() -> None:
    from rich.console import Console

    from scomm.pipeline.cli import outcome_examples

    cases = {f"48453-20130603-{i:06d}": OUTCOMES[i % len(OUTCOMES)] for i in range(40)}
    console = Console(width=80, record=True)
    console.print(outcome_examples(cases, "48453-20130603-1d-s1"))
    text = console.export_text()
    assert "Detainer honored" in text and "scomm cases --run 48453-20130603-1d-s1" in text
    assert all(len(line) <= 80 for line in text.splitlines())


# --------------------------------------------------------------------------- reforms


def test_reforms_parse_and_limit_to_a_place() -> None:
    from scomm.web.reforms import parse_reform, reform_text

    (one,) = parse_reform("judicial_warrant_everywhere@06085:2012-01-01")
    assert (one.scenario.name, one.place, one.start) == (
        "judicial_warrant", "06085", dt.date(2012, 1, 1),
    )  # fmt: skip
    both = parse_reform("serious_crimes_only+trust_act@06:2013-01-01")
    assert reform_text(both) == "serious_crimes_only+trust_act@06:2013-01-01"
    assert parse_reform("baseline") == [] and reform_text([]) == ""
    # An old link's alias comes back under the scenario's own name.
    assert reform_text([one]) == "judicial_warrant@06085:2012-01-01"
    with pytest.raises(InputError, match="FIPS"):
        parse_reform("judicial_warrant@6085")
    with pytest.raises(InputError, match="no such scenario"):
        parse_reform("moonshot")
    with pytest.raises(InputError, match="not a file"):
        parse_reform("/etc/passwd.yaml")


def test_a_place_limited_reform_applies_only_there_and_from_its_day() -> None:
    from scomm.web.reforms import parse_reform, rules_for_reforms

    rules = rules_for_reforms(parse_reform("judicial_warrant@48453:2012-01-01"))

    def warrant(fips: str, day: dt.date) -> bool:
        return any(
            layer.policy.judicial_warrant_required for layer in rules.in_force(fips, day).layers
        )

    assert warrant("48453", dt.date(2012, 1, 1))
    assert not warrant("48453", dt.date(2011, 12, 31))
    assert not warrant("48001", dt.date(2012, 1, 1))


def test_a_draft_stands_in_for_the_installed_file_in_its_rules_only() -> None:
    from scomm.policies.load import jurisdiction_policies
    from scomm.policies.schema import JurisdictionPolicy
    from scomm.web.reforms import rules_for_reforms

    draft = JurisdictionPolicy.model_validate(
        {
            "fips": "48453", "state": "TX", "name": "Travis (draft)",
            "periods": [{
                "from": dt.date(2012, 1, 1), "summary": "s", "reference": "r", "source": "s",
                "policy": {"honor": "none"},
            }],
        }
    )  # fmt: skip
    rules = rules_for_reforms([], draft)
    honors = {
        layer.policy.honor.value for layer in rules.in_force("48453", dt.date(2013, 1, 1)).layers
    }
    assert "none" in honors and rules.scenario == "draft:48453"
    assert "48453" not in jurisdiction_policies()


# --------------------------------------------------------------------------- accounts


def test_accounts_hash_with_argon2_and_check_roles(store_url: str) -> None:
    from sqlalchemy import select

    from scomm.web.accounts import (
        add_account,
        authenticate,
        list_accounts,
        remove_account,
        web_accounts,
    )

    with EventStore.open(store_url) as store:
        add_account(store, "kim", "a long password", "county", "06085")
        with store.connection(write=False) as conn:
            stored = conn.execute(select(web_accounts.c.password_hash)).scalar_one()
        assert stored.startswith("$argon2") and "a long password" not in stored
        assert authenticate(store, "kim", "a long password") is not None
        assert authenticate(store, "kim", "a wrong password") is None
        assert authenticate(store, "nobody", "a long password") is None
        with pytest.raises(InputError, match="already exists"):
            add_account(store, "kim", "another password", "analyst")
        for args, problem in (
            (("x", "short", "analyst"), "at least"),
            (("x", "a long password", "king"), "one of"),
            (("x", "a long password", "county"), "5-digit"),
            (("x", "a long password", "analyst", "06085"), "only county users"),
            (("x y", "a long password", "analyst"), "letters"),
        ):
            with pytest.raises(InputError, match=problem):
                add_account(store, *args)
        assert [a.username for a in list_accounts(store)] == ["kim"]
        remove_account(store, "kim")
        with pytest.raises(InputError, match="no such account"):
            remove_account(store, "kim")


def test_users_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/u.sqlite"
    runner = CliRunner()
    add = runner.invoke(
        cli_app,
        ["users", "add", "lee", "--role", "county", "--county", "48453", "--db", url,
         "--password-stdin"],
        input="a long password\n",
    )  # fmt: skip
    assert add.exit_code == 0, add.output
    listed = runner.invoke(cli_app, ["users", "list", "--db", url])
    assert "lee" in listed.output and "48453" in listed.output
    assert runner.invoke(cli_app, ["users", "remove", "lee", "--db", url]).exit_code == 0
    assert "lee" not in runner.invoke(cli_app, ["users", "list", "--db", url]).output


def test_login_limiter_counts_per_name_and_per_address(store_url: str) -> None:
    from scomm.web.accounts import LoginLimiter

    with EventStore.open(store_url) as store, EventStore.open(store_url) as other:
        limiter = LoginLimiter(store, attempts=3, window_s=60)
        # Another server process (--workers) on the same database counts the same failures.
        elsewhere = LoginLimiter(other, attempts=3, window_s=60)
        for i in range(3):
            assert limiter.retry_after("kim", "1.2.3.4") == 0
            (limiter if i % 2 else elsewhere).failed("kim", "1.2.3.4")
        assert 0 < limiter.retry_after("kim", "5.6.7.8") <= 60  # the name is locked
        assert 0 < elsewhere.retry_after("lee", "1.2.3.4") <= 60  # so is the address
        assert limiter.retry_after("lee", "5.6.7.8") == 0
        elsewhere.succeeded("kim")
        assert limiter.retry_after("kim", "5.6.7.8") == 0  # a login clears the name's count


# --------------------------------------------------------------------------- maps


@pytest.mark.parametrize(
    ("issued", "declined", "bin"),
    [
        (0, 0, "no detainers"),
        (10, 0, "none declined"),
        (10, 1, "some declined (under half)"),
        (10, 5, "half or more declined"),
        (10, 10, "all declined"),
    ],
)
def test_declined_bins_keep_zero_and_none_apart(issued: float, declined: float, bin: str) -> None:
    from scomm.jurisdictions.maps import DECLINE_COLORS, declined_category

    assert declined_category(issued, declined) == bin
    assert bin in DECLINE_COLORS


def test_a_what_if_that_fails_in_its_worker_is_reported_not_raised() -> None:
    import queue

    from scomm.web import whatif

    progress: queue.Queue[Any] = queue.Queue()
    whatif._start_worker(progress)
    bad = whatif.Question(place="99999", reform="judicial_warrant", first="2014-01", last="2014-01")
    status, message, seconds = whatif._answer_in_worker("job1", bad, None)
    assert status == "failed" and "99999" in message and seconds >= 0
