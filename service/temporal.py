"""The Temporal client every process uses, and the search attributes it relies on.

One ``connect`` keeps the pydantic data converter on every client (worker, API, CLI, tests):
a client with the default converter would silently turn models into dicts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Coroutine
from typing import Any, ParamSpec, TypeVar, cast

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import RetryConfig, RPCError, RPCStatusCode, ServiceClient
from temporalio.workflow import UpdateMethodMultiParam

from workflows.search_attributes import ALL

# Someone waits for every call the API makes: a Temporal server that does not answer is given
# up after about two seconds of retries (then 503 with Retry-After, and the caller repeats),
# not after the SDK's default of ten. The worker keeps the default: nobody waits on its retries.
REQUEST_RETRY = RetryConfig(
    initial_interval_millis=100,
    multiplier=1.5,
    max_interval_millis=500,
    max_elapsed_time_millis=2_000,
    max_retries=8,
)


_Params = ParamSpec("_Params")
_Answer = TypeVar("_Answer")


def update_method(
    method: UpdateMethodMultiParam[_Params, Coroutine[Any, Any, _Answer]],
) -> UpdateMethodMultiParam[_Params, _Answer]:
    """An update method as a client calls it (``execute_update(update_method(W.step), arg)``).

    The SDK types an ``async`` update declared with ``name=`` as answering with its coroutine;
    the client in fact answers with the coroutine's result (it reads the return annotation).
    """
    return cast(UpdateMethodMultiParam[_Params, _Answer], method)


async def connect(address: str, namespace: str, runtime: Runtime | None = None) -> Client:
    """Connect to ``address`` (``host:port``) in ``namespace`` with the pydantic converter;
    on ``runtime`` (its telemetry: the worker's SDK metrics) or the default one."""
    return await Client.connect(
        address, namespace=namespace, data_converter=pydantic_data_converter, runtime=runtime
    )


async def for_requests(client: Client) -> Client:
    """``client`` (its converter, codec and namespace) on a connection that gives up quickly.

    A connection of its own, so that the worker beside it in one process keeps its patience.
    """
    config = dataclasses.replace(client.service_client.config, retry_config=REQUEST_RETRY)
    fast = client.config()
    fast["service_client"] = await ServiceClient.connect(config)
    return Client(**fast)


def _wanted() -> dict[str, IndexedValueType.ValueType]:
    return {key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in ALL}


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Register every key of :data:`workflows.search_attributes.ALL`, idempotently.

    An external server starts without our custom attributes, and a workflow that upserts an
    unknown one fails its task. Only missing keys are added, one at a time, so a key that
    another process registered meanwhile (``ALREADY_EXISTS``) is no error. A key that exists
    with another type cannot be fixed here: that raises, rather than letting workflows fail later.
    The time-skipping test server cannot list, only add: there every key is tried.
    """
    operator = client.operator_service
    try:
        listed = await operator.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        existing = {**dict(listed.system_attributes), **dict(listed.custom_attributes)}
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        existing = {}
    for name, value_type in _wanted().items():
        if name in existing:
            if existing[name] != value_type:
                raise RuntimeError(
                    f"search attribute {name} exists in namespace {namespace!r} as "
                    f"{IndexedValueType.Name(existing[name])}, "
                    f"expected {IndexedValueType.Name(value_type)}"
                )
            continue
        try:
            await operator.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=namespace, search_attributes={name: value_type}
                )
            )
        except RPCError as err:
            if err.status != RPCStatusCode.ALREADY_EXISTS:
                raise
