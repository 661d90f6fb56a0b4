"""Recommend next steps for the demo school: who should do what, by when, and why.

Usage::

    python examples/recommend_next_steps.py                       # england-2024, last marked day
    python examples/recommend_next_steps.py --policy county-five-band
    python examples/recommend_next_steps.py --as-of 2024-11-13 --output steps.csv
    python examples/recommend_next_steps.py --policy my-la.toml   # an LA's own policy file

It builds the synthetic demo school (1,000 pupils, 2024/25), records a small action plan for
one pupil over the penalty-notice threshold — support offered and not taken up, the attendance
officer consulted — and shows how that plan moves the pupil from "offer support" to "notice to
improve": enforcement never comes before support. Then it prints the steps per stage and the
reasons for a few pupils.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import pandas as pd

from attendance_core import Register, demo
from attendance_core.errors import AttendanceError
from attendance_core.escalation import Stage, recommend, steps_frame
from attendance_core.plans import RAG, ActionPlan, ActionPlanItem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="england-2024", help="policy id or TOML file")
    parser.add_argument("--as-of", type=dt.date.fromisoformat, help="YYYY-MM-DD")
    parser.add_argument("--output", type=Path, help="write every step to this CSV file")
    args = parser.parse_args(argv)

    long, pupils = demo.school(seed=0)
    reg = Register.from_long(long, pupils=pupils)
    pupils = pupils.drop(columns=["name"])  # the engine never needs names

    try:
        started = time.perf_counter()
        steps = recommend(reg, pupils=pupils, as_of=args.as_of, policy=args.policy)
        took = time.perf_counter() - started
    except AttendanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    frame = steps_frame(steps)
    as_of = args.as_of or pd.Timestamp(reg.dates[-1]).date()
    print(
        f"{len(steps)} steps for {frame['pupil_id'].nunique()} of {reg.n_enrolments} pupils "
        f"on {as_of} ({args.policy}, {took * 1000:.0f} ms)\n"
    )

    # steps_frame's `stage` is a categorical of stage names in stage order
    by_stage = frame.groupby("stage", observed=True)["action"].value_counts()
    for stage in Stage:
        if stage.name in by_stage.index.get_level_values(0):
            print(f"{stage.label}:")
            for action, count in by_stage[stage.name].items():
                print(f"  {action:<36} {count:>4}")
    print()

    # one pupil over the threshold: follow them through support to enforcement
    over = [s for s in steps if s.action == "consult_attendance_officer"]
    if over:
        pupil = over[0].pupil_id
        print(f"Pupil {pupil} (threshold met):")
        for s in steps:
            if s.pupil_id == pupil:
                print(f"  [{s.stage.label}] {s.action} — {s.lead}, due {s.due}\n    {s.reason}")
        plan = ActionPlan(
            items=[
                ActionPlanItem(
                    id="1",
                    action="Offer of support",
                    action_id="offer_support_before_enforcement",
                    pupil_id=pupil,
                    status=RAG.OVERDUE,
                    due=as_of - dt.timedelta(days=14),
                ),
                ActionPlanItem(
                    id="2",
                    action="Consult attendance officer",
                    action_id="consult_attendance_officer",
                    pupil_id=pupil,
                    status=RAG.COMPLETED,
                    completed_on=as_of - dt.timedelta(days=2),
                ),
                ActionPlanItem(
                    id="3",
                    action="Agree with social worker",
                    action_id="agree_with_social_worker",
                    pupil_id=pupil,
                    status=RAG.COMPLETED,
                    completed_on=as_of - dt.timedelta(days=1),
                ),
            ],
            title="Pupil plan",
        )
        after = recommend(reg, pupils=pupils, plans=plan, as_of=as_of, policy=args.policy)
        print("\n  With support not taken up and the consultation recorded:")
        for s in after:
            if s.pupil_id == pupil and s.stage >= Stage.FORMALISE_SUPPORT:
                print(f"  [{s.stage.label}] {s.action} — {s.lead}, due {s.due}\n    {s.reason}")
        print()

    holiday = [
        s
        for s in steps
        if s.rule.startswith("consider_penalty_notice") and s.evidence.get("holiday_only")
    ]
    if holiday:
        s = holiday[0]
        print(f"Term-time holiday, no support precondition (pupil {s.pupil_id}):\n  {s.reason}\n")

    if args.output:
        out = frame.assign(
            stage=frame["stage"].astype(str),
            evidence=frame["evidence"].map(lambda e: repr(dict(e))),
        )
        out.to_csv(args.output, index=False)
        print(f"wrote {len(out)} steps to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
