"""Review an action plan: which items are overdue, and why.

Usage::

    python examples/review_plan.py                                   # the example delivery plan
    python examples/review_plan.py examples/plans/action_plan.csv --as-of 2026-05-01
    python examples/review_plan.py plan.xlsx --as-of 2026-05-01 --output reviewed.csv
    python examples/review_plan.py examples/plans/pupil_plan.csv --as-of 2025-12-01 \
        --register examples/plans/pupil_marks.csv           # check success measures too

The plan may be in either strategic layout (action plan or delivery plan) or a pupil plan, as
CSV or .xlsx. ``--register`` takes a long CSV of marks (``pupil_id, date, session, code``) to
check measurable success measures such as "attendance ≥ 90% over the next 6 school weeks".
"""

from __future__ import annotations

import argparse
import datetime as dt
import warnings
from pathlib import Path

import pandas as pd

from attendance_core.errors import AttendanceError, AttendanceWarning
from attendance_core.plans import ActionPlan

HERE = Path(__file__).parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plan", nargs="?", type=Path, default=HERE / "plans" / "delivery_plan.csv")
    parser.add_argument(
        "--as-of",
        type=dt.date.fromisoformat,
        default=dt.date(2026, 5, 1),
        help="review date, YYYY-MM-DD (default 2026-05-01, inside the example plans)",
    )
    parser.add_argument("--register", type=Path, help="long CSV of marks")
    parser.add_argument("--output", type=Path, help="write the reviewed plan (.csv or .xlsx)")
    args = parser.parse_args(argv)

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", AttendanceWarning)
            plan = ActionPlan.from_table(args.plan, reference_date=args.as_of)
        register = None
        if args.register is not None:
            from attendance_core.register import Register

            register = Register.from_long(pd.read_csv(args.register, dtype=str))
        reviewed, changes = plan.review(args.as_of, register=register)
    except AttendanceError as exc:
        print(f"error: {exc}")
        return 2

    print(plan.title or args.plan.name)
    print(f"{plan.layout} layout, {len(plan.items)} items, reviewed on {args.as_of:%d %b %Y}")
    for warning in caught:
        print(f"  note: {warning.message}")
    print()
    width = max((len(item.id) for item in reviewed.items), default=2)
    for item in reviewed.items:
        status = item.status.label if item.status else "(blank)"
        due = item.due.isoformat() if item.due else "no date"
        print(f"  {item.id:<{width}}  {status:<27} {due:<10}  {item.action[:60]}")
    print()
    if not changes:
        print("No changes.")
    for change in changes:
        if change.field == "success_measure_met":
            verdict = {True: "met", False: "not met"}.get(change.new, "undecided")
            print(f"  {change.item_id}: success measure {verdict}: {change.reason}")
            continue
        old = getattr(change.old, "label", change.old)
        new = getattr(change.new, "label", change.new)
        print(f"  {change.item_id}: {change.field} {old} -> {new}: {change.reason}")
    if args.output is not None:
        if args.output.suffix.casefold() == ".xlsx":
            reviewed.to_excel(args.output)
        else:
            reviewed.to_csv(args.output)
        print(f"\nwritten {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
