"""Lists that scale (issue 14, point 9): the teams' task lists, one query for the API and the
inbox pages, a page at a time by keyset (due date, then id), saying when more follow."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from temporalio.testing import WorkflowEnvironment

from schemas.accounts import Role
from tests.test_api import V1, logged_in, serving


async def seed_tasks(pool: asyncpg.Pool, count: int, queue: str = "abh") -> list[str]:
    """``count`` cases with one open task each, due an hour apart; their task ids by due date."""
    now = datetime.now(UTC)
    ids = []
    async with pool.acquire() as con, con.transaction():
        for number in range(count):
            case_id = f"TL-{uuid.uuid4().hex[:8]}"
            await con.execute(
                "INSERT INTO cases (case_id, stage, residence_status, town, opened_at,"
                " updated_at) VALUES ($1, 'follow_up', 'ausreisepflichtig', 'Unna', $2, $2)",
                case_id,
                now,
            )
            task_id = uuid.uuid4()
            await con.execute(
                "INSERT INTO tasks (task_id, case_id, kind, queue, status, due_at, created_at)"
                " VALUES ($1, $2, 'follow_up', $3, 'open', $4, $5)",
                task_id,
                case_id,
                queue,
                now + timedelta(hours=number),
                now,
            )
            ids.append(str(task_id))
    return ids


async def test_the_api_pages_through_the_open_tasks_and_says_when_more_follow(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    expected = await seed_tasks(pool, 7)
    await seed_tasks(pool, 2, queue="ki")
    async with serving(dev_env, pool) as app, logged_in(app, Role.ABH) as abh:
        seen: list[str] = []
        url: str | None = f"{V1}/tasks?limit=3"
        pages = 0
        while url is not None:
            response = await abh.get(url)
            assert response.status_code == 200, response.text
            seen += [task["task_id"] for task in response.json()]
            pages += 1
            link = response.headers.get("link")
            assert response.headers["x-has-more"] == ("true" if link else "false")
            url = link.split(">")[0].lstrip("<") if link else None
        assert seen == expected and pages == 3
        # Without a limit: a hundred at most, here all of them.
        everything = (await abh.get(f"{V1}/tasks")).json()
        assert [task["task_id"] for task in everything] == expected
        refused = await abh.get(f"{V1}/tasks", params={"cursor": "nicht-von-hier"})
        assert refused.status_code == 422
        assert [e["loc"] for e in refused.json()["errors"]] == [["query", "cursor"]]
        too_many = await abh.get(f"{V1}/tasks", params={"limit": 501})
        assert too_many.status_code == 422


async def test_the_inbox_shows_a_page_of_a_view_and_links_the_next(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    ids = await seed_tasks(pool, 55)
    async with serving(dev_env, pool) as app, logged_in(app, Role.ABH) as abh:
        first = await abh.get("/posteingang", params={"ansicht": "gruppe"})
        assert first.status_code == 200
        assert "Gruppe" in first.text and ": 55</h2>" in first.text
        assert ids[49] in first.text and ids[50] not in first.text
        following = first.text.split('href="/posteingang?ansicht=gruppe&amp;weiter=')[1]
        cursor = following.split('"')[0]
        second = await abh.get(f"/posteingang?ansicht=gruppe&weiter={cursor}")
        assert ids[50] in second.text and ids[49] not in second.text
        assert "Weitere Aufgaben" not in second.text and "Zum Anfang der Ansicht" in second.text
        wrong = await abh.get("/posteingang", params={"ansicht": "gruppe", "weiter": "x"})
        assert wrong.status_code == 404
