"""The case list and case search: one query for the API and the page (``schemas.case_list``).

Keyset pagination: a page ends at its last row's (sort key, case id), and the next page starts
after it, so a page costs the same wherever it lies and a case added meanwhile is not shown
twice. Sort keys are text (dates and times in ISO form sort as they read). The ABH's names
come from the case file, the KI's from what it received (``ki_readable``), and the KI sees
only those cases.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas.case_list import CaseListRow, CaseQuery, CaseSort, Cursor
from schemas.paging import decode_cursor
from store.db import Connection

# Where the person's name and date of birth come from, per reader.
_ABH_PERSON = {
    "given": "p.given_name",
    "family": "p.family_name",
    "born": "p.date_of_birth",
    "join": "LEFT JOIN persons p ON p.case_id = c.case_id",
}
_KI_PERSON = {
    "given": "(k.personal_data->>'given_name')",
    "family": "(k.personal_data->>'family_name')",
    "born": "(k.personal_data->>'date_of_birth')::date",
    "join": "JOIN ki_readable k ON k.case_id = c.case_id",
}
_LAST_DAY = "'9999-12-31'"

# The sort keys, by column; NULLs sort last (ascending).
_SORT_KEYS: dict[CaseSort, str] = {
    CaseSort.CASE_ID: "c.case_id",
    CaseSort.NAME: "search_fold(coalesce({family}, '') || ' ' || coalesce({given}, ''))",
    CaseSort.DEPARTURE_DEADLINE: (
        f"coalesce(to_char(c.departure_deadline, 'YYYY-MM-DD'), {_LAST_DAY})"
    ),
    CaseSort.STAGE: "c.stage",
    CaseSort.TOWN: "c.town",
    CaseSort.OPENED: "to_char(c.opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')",
    CaseSort.NEXT_DUE: (
        "coalesce(to_char(t.next_due AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), "
        f"{_LAST_DAY})"
    ),
}


async def find_cases(
    con: Connection, query: CaseQuery, *, team: str, ki: bool, now: datetime
) -> tuple[list[CaseListRow], bool]:
    """One page of cases matching ``query`` and whether more follow; ``team``: whose open
    tasks count (abh or ki); ``ki``: only the cases the KI may read, with its names."""
    person = _KI_PERSON if ki else _ABH_PERSON
    args: list[Any] = [team, now]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    where: list[str] = []
    if query.q is not None:
        needle = arg(query.q)
        name = f"coalesce({person['given']}, '') || ' ' || coalesce({person['family']}, '')"
        where.append(
            f"(strpos(lower(c.case_id), lower({needle})) > 0"
            f" OR strpos(search_fold({name}), search_fold({needle})) > 0)"
        )
    if query.born_on is not None:
        where.append(f"{person['born']} = {arg(query.born_on)}")
    if query.town is not None:
        where.append(f"c.town = {arg(query.town)}")
    if query.stage is not None:
        where.append(f"c.stage = {arg(query.stage.value)}")
    if query.open_only:
        where.append("c.closed_at IS NULL")
    if query.overdue is not None:
        where.append(f"coalesce(t.overdue, false) = {arg(query.overdue)}")
    if query.assigned_to is not None:
        where.append(
            "EXISTS (SELECT 1 FROM tasks a WHERE a.case_id = c.case_id AND a.status = 'open'"
            f" AND a.assigned_to = {arg(query.assigned_to)})"
        )
    if query.deadline_before is not None:
        where.append(f"c.departure_deadline < {arg(query.deadline_before)}")

    order = "DESC" if query.descending else "ASC"
    after = ""
    if query.cursor is not None:  # of this sort (CaseQuery checked it)
        cursor = decode_cursor(query.cursor, Cursor)
        comparison = "<" if query.descending else ">"
        after = (
            f"WHERE (s.sort_key, s.case_id) {comparison} "
            f"({arg(cursor.key)}::text, {arg(cursor.case_id)}::text)"
        )
    sort_key = _SORT_KEYS[query.sort].format(**person)
    limit = arg(query.limit + 1)
    rows = await con.fetch(
        f"""
        SELECT * FROM (
            SELECT c.case_id, c.stage, c.outcome, c.town, c.departure_deadline, c.opened_at,
                   {person["given"]} AS given_name, {person["family"]} AS family_name,
                   {person["born"]} AS date_of_birth,
                   coalesce(t.open_tasks, 0) AS open_tasks,
                   coalesce(t.overdue, false) AS overdue, t.next_due,
                   {sort_key} AS sort_key
            FROM cases c
            {person["join"]}
            LEFT JOIN (
                SELECT case_id, count(*) AS open_tasks,
                       bool_or(overdue OR due_at < $2) AS overdue, min(due_at) AS next_due
                FROM tasks WHERE status = 'open' AND queue = $1 AND case_id IS NOT NULL
                GROUP BY case_id
            ) t ON t.case_id = c.case_id
            {"WHERE " + " AND ".join(where) if where else ""}
        ) s
        {after}
        ORDER BY s.sort_key {order}, s.case_id {order}
        LIMIT {limit}
        """,
        *args,
    )
    found = [CaseListRow.model_validate(dict(row)) for row in rows]
    return found[: query.limit], len(found) > query.limit


def cursor_after(query: CaseQuery, last: CaseListRow) -> Cursor:
    return Cursor(
        sort=query.sort, descending=query.descending, key=last.sort_key, case_id=last.case_id
    )
