"""The API under test and its logged-in clients, shared by test_api.py and test_auth.py.

Loaded as a pytest plugin from conftest.py, so both modules use one definition.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from schemas.accounts import Role
from tests.test_api import logged_in, serving


@pytest.fixture
async def app(dev_env: WorkflowEnvironment, pool: asyncpg.Pool) -> AsyncIterator[FastAPI]:
    async with serving(dev_env, pool) as app:
        yield app


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The ABH's caseworker, who also carries the back office's API token for the intake."""
    async with logged_in(app, Role.ABH, token=True) as client:
        yield client


@pytest.fixture
async def ki(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Someone of the integration centre."""
    async with logged_in(app, Role.KI) as client:
        yield client


@pytest.fixture
async def admin(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with logged_in(app, Role.ADMIN) as client:
        yield client
