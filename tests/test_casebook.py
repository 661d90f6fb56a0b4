"""The casebook's contract (api.md, "Casebook"), the same suite on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

import attendance_core as ac
from attendance_core.casebook import (
    DONE_EVENTS,
    Casebook,
    CasebookError,
    NotPermittedError,
    StepNotFoundError,
    TransitionError,
)
from attendance_core.casebook import _schema as schema
from casebook_support import AS_OF, BACKENDS, database_url, two_schools

KEY = b"0123456789abcdef0123456789abcdef"


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_url(request.param, tmp_path)


@pytest.fixture
def cb(url: str) -> Iterator[Casebook]:
    book = Casebook(url, user="alice")
    yield book
    book.close()


def _step_id(book: Casebook, pupil: str, action: str) -> str:
    frame = book.steps()
    chosen = frame[(frame["pupil_id"] == pupil) & (frame["action"] == action)]
    assert len(chosen) == 1, chosen
    return str(chosen["step_id"].iloc[0])


def _actions(steps: list[ac.NextStep], pupil: str) -> set[str]:
    return {s.action for s in steps if s.pupil_id == pupil}


# ------------------------------------------------------------------------------ schema
def test_open_creates_the_schema_at_the_head_revision_and_reopens(url: str) -> None:
    Casebook(url).close()
    book = Casebook(url)  # a second open migrates nothing and fails on nothing
    with book.engine.connect() as c:
        assert c.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == "0001"
        tables = set(sa.inspect(c).get_table_names())
    assert {"case_events", "steps", "step_changes", "plans", "plan_items", "audit", "tokens"} <= (
        tables
    )
    book.close()


def test_migrations_build_exactly_the_tables_the_queries_use(url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    book = Casebook(url)
    with book.engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c), schema.metadata)
    book.close()
    assert diff == []


def test_the_migrations_ship_inside_the_package() -> None:
    from importlib import resources

    folder = resources.files("attendance_core.casebook") / "migrations"
    assert (folder / "env.py").is_file()
    assert (folder / "script.py.mako").is_file()
    assert (folder / "versions" / "0001_initial.py").is_file()


def test_an_in_memory_casebook_is_one_database_for_every_thread() -> None:
    book = Casebook("sqlite://", user="alice")
    (sid,) = book.save_steps([_step("early_help_assessment")], AS_OF)
    seen: list[list[str]] = []
    thread = threading.Thread(target=lambda: seen.append(list(book.steps()["step_id"])))
    thread.start()
    thread.join()
    assert seen == [[sid]]
    book.close()


def test_a_database_from_a_newer_release_is_refused(url: str) -> None:
    Casebook(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(CasebookError, match="newer than this attendance-core"):
        Casebook(url)


# ------------------------------------------------------------------------------ history
def test_history_round_trips_and_the_same_event_is_stored_once(cb: Casebook) -> None:
    history = ac.CaseHistory(
        events=[
            ac.CaseEvent(pupil_id="A", school_id="S1", event="notice_to_improve",
                         date=dt.date(2025, 1, 10), until=dt.date(2025, 1, 31)),
            ac.CaseEvent(pupil_id="A", school_id="S1", event="penalty_notice",
                         date=dt.date(2025, 2, 3), parent_id="P1", outcome="unpaid"),
            ac.CaseEvent(pupil_id="B", school_id="S2", event="support_not_engaged",
                         date=dt.date(2025, 1, 20), note="declined twice"),
        ]
    )  # fmt: skip
    assert cb.add_history(history) == 3
    assert cb.add_history(history.to_table()) == 0
    back = cb.history()
    assert back.to_table().equals(history.sorted().to_table())
    assert [e.pupil_id for e in cb.history(school_id="S2")] == ["B"]
    assert [e.event for e in cb.history(pupil_id="A")] == ["notice_to_improve", "penalty_notice"]


def test_a_bad_history_row_is_refused_by_name(cb: Casebook) -> None:
    table = pd.DataFrame([{"pupil_id": "A", "event": "warning_letter", "date": "2025-01-10"}])
    with pytest.raises(ac.PolicyError, match="row 0"):
        cb.add_history(table)
    assert len(cb.history()) == 0


# ------------------------------------------------------------------------------ steps
def test_saved_steps_have_stable_ids_and_saving_twice_is_one_row(cb: Casebook) -> None:
    reg = two_schools()
    steps = ac.recommend(reg, as_of=AS_OF)
    ids = cb.save_steps(steps, AS_OF)
    assert len(ids) == len(set(ids)) == len(steps)
    assert cb.save_steps(steps, AS_OF) == ids
    assert cb.save_steps(ac.recommend(reg, as_of=AS_OF), "2025-02-14") == ids
    frame = cb.steps()
    assert len(frame) == len(steps)
    # the steps_frame columns, the step's own note (for staff) as step_note: "note" is the note
    # given with the last status change
    expected = ["step_note" if c == "note" else c for c in ac.steps_frame(steps).columns]
    assert list(frame.columns[: len(expected)]) == expected
    assert frame["step_note"].tolist() == [s.note for s in steps]
    for column in ("step_id", "status", "updated_by", "updated_on", "note"):
        assert column in frame.columns
    assert set(frame["status"]) == {"proposed"}
    assert list(frame["step_id"]) == ids  # recommend's order
    assert frame["evidence"].tolist() == [dict(s.evidence) for s in steps]
    assert set(cb.steps(school_id="S2")["pupil_id"]) == {"B"}
    assert len(cb.steps(status="done")) == 0
    with pytest.raises(CasebookError, match="unknown status"):
        cb.steps(status="closed")


def test_a_later_recommendation_of_an_open_step_is_the_same_step(cb: Casebook) -> None:
    reg = two_schools()
    first = cb.save_steps(ac.recommend(reg, as_of=AS_OF), AS_OF)
    later = dt.date(2025, 2, 13)
    again = cb.save_steps(ac.recommend(reg, as_of=later), later)
    assert set(again) <= set(first)
    assert len(cb.steps()) == len(first)


def test_lifecycle_records_who_and_when_and_refuses_what_it_does_not_allow(cb: Casebook) -> None:
    cb.save_steps(ac.recommend(two_schools(), as_of=AS_OF), AS_OF)
    sid = _step_id(cb, "A", "early_help_assessment")
    assert cb.set_status(sid, "accepted", "bob", on="2025-02-17", note="referred") is None
    row = cb.steps(status="accepted").set_index("step_id").loc[sid]
    assert (row["updated_by"], row["updated_on"], row["note"]) == (
        "bob",
        dt.date(2025, 2, 17),
        "referred",
    )
    cb.set_status(sid, "done", "carol", on=dt.date(2025, 2, 20))
    changes = cb.step_changes(sid)
    assert list(changes["status"]) == ["proposed", "accepted", "done"]
    assert list(changes["by"]) == ["alice", "bob", "carol"]
    with pytest.raises(TransitionError, match="is done: it cannot become accepted"):
        cb.set_status(sid, "accepted", "bob")
    with pytest.raises(CasebookError, match="unknown status"):
        cb.set_status(sid, "finished", "bob")
    with pytest.raises(StepNotFoundError):
        cb.set_status("0" * 32, "accepted", "bob")


def _step(action: str, pupil: str = "A", school: str = "S1") -> ac.NextStep:
    return ac.NextStep(
        pupil_id=pupil, school_id=school, stage=ac.Stage.FORMALISE_SUPPORT, action=action,
        lead="attendance_officer", due=AS_OF, rule=action, reason="r",
    )  # fmt: skip


@pytest.mark.parametrize("action", sorted(DONE_EVENTS))
def test_a_step_marked_done_records_its_history_event(cb: Casebook, action: str) -> None:
    (sid,) = cb.save_steps([_step(action)], AS_OF)
    event = cb.set_status(sid, "done", "bob", on=AS_OF, note="by phone")
    assert event is not None
    assert (event.event, event.pupil_id, event.school_id, event.date, event.note) == (
        DONE_EVENTS[action],
        "A",
        "S1",
        AS_OF,
        "by phone",
    )
    assert cb.history().events == (event,)


def test_a_step_without_an_event_records_none(cb: Casebook) -> None:
    (sid,) = cb.save_steps([_step("early_help_assessment")], AS_OF)
    assert cb.set_status(sid, "done", "bob", on=AS_OF) is None
    assert len(cb.history()) == 0


@pytest.mark.parametrize("action", ["notify_la_continuous_absence", "consult_attendance_officer"])
def test_recommend_with_the_history_does_not_repeat_a_done_step(cb: Casebook, action: str) -> None:
    steps = ac.recommend(two_schools(), as_of=AS_OF)
    assert action in _actions(steps, "A")
    cb.save_steps(steps, AS_OF)
    cb.set_status(_step_id(cb, "A", action), "done", "bob", on=AS_OF)
    again = ac.recommend(two_schools(), history=cb.history(), as_of=AS_OF)
    assert action not in _actions(again, "A")
    assert action in _actions(again, "B")


def test_every_done_event_is_a_history_event_id() -> None:
    from attendance_core.history import EVENTS

    assert set(DONE_EVENTS.values()) <= set(EVENTS)
    assert DONE_EVENTS == {
        "notify_la_continuous_absence": "la_notified_continuous_absence",
        "notify_la_illness_15_days": "la_notified_illness",
        "consult_attendance_officer": "attendance_officer_consulted",
        "agree_with_social_worker": "social_worker_agreed",
        "notice_to_improve": "notice_to_improve",
    }


def test_a_notice_to_improve_done_runs_for_its_period(cb: Casebook) -> None:
    (sid,) = cb.save_steps([_step("notice_to_improve")], AS_OF)
    event = cb.set_status(sid, "done", "bob", on=AS_OF)
    assert event is not None
    assert event.until == AS_OF + dt.timedelta(days=21)
    (stored,) = cb.history().events
    assert stored.until == AS_OF + dt.timedelta(days=21)


def test_a_closed_step_recommended_again_later_opens_a_new_step(cb: Casebook) -> None:
    steps = [s for s in ac.recommend(two_schools(), as_of=AS_OF) if s.pupil_id == "C" or
             s.action == "early_help_assessment"]  # fmt: skip
    (sid, _) = cb.save_steps(steps, AS_OF)
    cb.set_status(sid, "dismissed", "bob", on=AS_OF)
    assert cb.save_steps(steps[:1], AS_OF) == [sid]  # the same day: still the dismissed step
    later = AS_OF + dt.timedelta(days=3)
    (new,) = cb.save_steps(steps[:1], later)
    assert new != sid
    assert cb.steps().set_index("step_id").loc[new, "status"] == "proposed"


def test_concurrent_saves_of_the_same_steps_lose_and_duplicate_nothing(url: str) -> None:
    steps = ac.recommend(two_schools(), as_of=AS_OF)
    books = [Casebook(url, user=f"worker{k}") for k in range(6)]
    results: list[list[str]] = [[] for _ in books]
    errors: list[BaseException] = []
    start = threading.Barrier(len(books))

    def run(k: int) -> None:
        try:
            start.wait()
            day = AS_OF - dt.timedelta(days=k % 3)  # different days: same open steps
            results[k] = books[k].save_steps(steps, day)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(books))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(r == results[0] for r in results)
    frame = books[0].steps()
    assert len(frame) == len(steps)
    assert not frame.duplicated(["school_id", "pupil_id", "action"]).any()
    changes = sum(len(books[0].step_changes(s)) for s in frame["step_id"])
    assert changes == len(steps)  # one "proposed" each, however many saved them
    for book in books:
        book.close()


# ------------------------------------------------------------------------------ plans
def test_plans_round_trip_and_answer_steps(cb: Casebook) -> None:
    plan = ac.ActionPlan(
        title="A's plan",
        items=[
            ac.ActionPlanItem(id="1", action="Early help", action_id="early_help_assessment",
                              pupil_id="A", status=ac.RAG.ON_TRACK, due=dt.date(2025, 3, 1)),
            ac.ActionPlanItem(id="2", action="Call home", pupil_id="A", notes="weekly"),
        ],
    )  # fmt: skip
    pid = cb.save_plan(plan, school_id="S1")
    (back,) = cb.plans()
    assert back.items == plan.items
    assert back.title == "A's plan"
    cb.save_plan(plan, plan_id=pid, school_id="S1")  # replaced, not added
    assert len(cb.plans()) == 1
    assert cb.plans(school_id="S2") == []
    steps = ac.recommend(two_schools(), plans=cb.plans(), as_of=AS_OF)
    assert "early_help_assessment" not in _actions(steps, "A")
    assert "early_help_assessment" in _actions(steps, "B")


# ------------------------------------------------------------------------------ audit
def test_the_audit_says_who_read_or_changed_which_pupil(cb: Casebook) -> None:
    cb.add_history([ac.CaseEvent(pupil_id="A", school_id="S1", event="support_not_worked",
                                 date=dt.date(2025, 1, 10))])  # fmt: skip
    cb.as_user("dave").history(pupil_id="A")
    audit = cb.audit(pupil_id="A")
    assert list(zip(audit["actor"], audit["action"], audit["subject"], strict=True)) == [
        ("alice", "write", "history"),
        ("dave", "read", "history"),
    ]
    assert isinstance(audit["at"].iloc[0], dt.datetime)


def test_purge_deletes_old_pupil_data_and_keeps_the_audit_of_it(cb: Casebook) -> None:
    cb.add_history([
        ac.CaseEvent(pupil_id="A", school_id="S1", event="support_not_worked",
                     date=dt.date(2023, 1, 10)),
        ac.CaseEvent(pupil_id="A", school_id="S1", event="support_not_engaged",
                     date=dt.date(2025, 1, 10)),
    ])  # fmt: skip
    cb.save_steps(ac.recommend(two_schools(), as_of=AS_OF), AS_OF)
    counts = cb.purge(before="2024-09-01")
    assert counts == {"events": 1, "steps": 0, "plans": 0}
    assert [e.event for e in cb.history()] == ["support_not_engaged"]
    counts = cb.purge(before=AS_OF + dt.timedelta(days=1))
    assert counts["steps"] > 0
    assert len(cb.steps()) == 0
    audit = cb.audit()
    purges = audit[audit["subject"] == "purge"]
    assert len(purges) == 2
    assert purges["pupil_id"].isna().all()
    assert (audit["pupil_id"] == "A").any()  # the earlier audit is kept
    with pytest.raises(NotPermittedError):
        cb.for_school("S1").purge(before=AS_OF)


# ------------------------------------------------------------------------------ roles
def test_a_school_view_sees_and_changes_only_its_own_school(cb: Casebook) -> None:
    cb.save_steps(ac.recommend(two_schools(), as_of=AS_OF), AS_OF)
    cb.add_history([ac.CaseEvent(pupil_id="B", school_id="S2", event="support_not_worked",
                                 date=dt.date(2025, 1, 10))])  # fmt: skip
    s1 = cb.for_school("S1", user="head of S1")
    assert set(s1.steps()["school_id"]) == {"S1"}
    assert len(s1.steps(school_id="S2")) == 0
    assert len(s1.history()) == 0
    other = _step_id(cb, "B", "review_support")
    with pytest.raises(StepNotFoundError):
        s1.set_status(other, "accepted")
    with pytest.raises(NotPermittedError):
        s1.add_history([ac.CaseEvent(pupil_id="B", school_id="S2", event="prosecution",
                                     date=dt.date(2025, 2, 1))])  # fmt: skip
    with pytest.raises(NotPermittedError):
        s1.recommend(two_schools(), as_of=AS_OF)  # the register holds S2's pupils
    s1.add_history([ac.CaseEvent(pupil_id="A", event="support_not_worked",
                                 date=dt.date(2025, 1, 10))])  # fmt: skip
    assert [e.school_id for e in cb.history(pupil_id="A")] == ["S1"]
    mine = _step_id(cb, "A", "review_support")
    s1.set_status(mine, "accepted")
    assert cb.steps(status="accepted")["updated_by"].tolist() == ["head of S1"]


# ------------------------------------------------------------------------------ recommend
def test_recommend_uses_the_history_and_saves_the_steps(cb: Casebook) -> None:
    reg = two_schools()
    first = cb.recommend(reg, as_of=AS_OF)
    assert len(first) == len(ac.recommend(reg, as_of=AS_OF))
    sid = first[(first["pupil_id"] == "A") & (first["action"] == "consult_attendance_officer")]
    cb.set_status(sid["step_id"].iloc[0], "done", "bob", on=AS_OF)
    second = cb.recommend(reg, as_of=AS_OF)
    assert not (
        (second["pupil_id"] == "A") & (second["action"] == "consult_attendance_officer")
    ).any()
    assert set(second["status"]) == {"proposed"}


# ------------------------------------------------------------------------------ pseudonyms
def test_pseudonymous_mode_stores_and_returns_pseudonyms(url: str) -> None:
    book = Casebook(url, key=KEY, user="alice")
    pseudonym = ac.pseudonymise("A", KEY)
    book.add_history([ac.CaseEvent(pupil_id="A", school_id="S1", event="penalty_notice",
                                   date=dt.date(2025, 1, 10), parent_id="mum")])  # fmt: skip
    (event,) = book.history().events
    assert event.pupil_id == pseudonym
    assert event.parent_id == ac.pseudonymise("mum", KEY)
    assert len(book.history(pupil_id="A")) == len(book.history(pupil_id=pseudonym)) == 1
    frame = book.recommend(two_schools(), as_of=AS_OF)
    assert set(frame["pupil_id"]) == {ac.pseudonymise(p, KEY) for p in ("A", "B")}
    with book.engine.connect() as c:
        stored = {r[0] for r in c.execute(sa.select(schema.steps.c.pupil_id))}
        stored |= {r[0] for r in c.execute(sa.select(schema.events.c.pupil_id))}
    assert "A" not in stored
    assert "B" not in stored
    book.close()
    with pytest.raises(CasebookError, match="open it with its key"):
        Casebook(url)
    with pytest.raises(CasebookError, match="not the key"):
        Casebook(url, key=b"another key of sixteen bytes or more")


def test_a_casebook_of_ids_refuses_a_key(url: str) -> None:
    Casebook(url).close()
    with pytest.raises(CasebookError, match="without a key"):
        Casebook(url, key=KEY)


# ------------------------------------------------------------------------------ tokens
def test_tokens_are_stored_hashed_and_can_be_revoked(cb: Casebook) -> None:
    school = cb.add_token(school_id="S1", label="S1 office")
    la = cb.add_token(la=True)
    info = cb.check_token(school)
    assert info is not None
    assert (info.role, info.school_id, info.label) == ("school", "S1", "S1 office")
    la_info = cb.check_token(la)
    assert la_info is not None
    assert la_info.role == "la"
    assert la_info.school_id is None
    assert cb.check_token("acb_not-a-token") is None
    assert cb.check_token("") is None
    with cb.engine.connect() as c:
        hashes = [r[0] for r in c.execute(sa.select(schema.tokens.c.token_hash))]
    assert school not in hashes
    assert la not in hashes
    cb.revoke_token(info.token_id)
    assert cb.check_token(school) is None
    assert cb.check_token(la) is not None
    with pytest.raises(CasebookError):
        cb.add_token(school_id="S1", la=True)
    with pytest.raises(NotPermittedError):
        cb.for_school("S1").add_token(la=True)
