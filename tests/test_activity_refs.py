"""Each typed activity reference names an activity the worker registers, with its very types.

The workflows call activities by name (they may not import them); a reference whose input or
output drifted from the registered function would only fail at run time, in a running case.
``_Definition`` is the SDK's own reading of the decorator and the annotations (no public API
lists them); ``runtime.worker.build_activities`` is the list the worker registers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pytest
from temporalio import activity

from runtime.worker import build_activities
from workflows.activity_refs import ALL, ActivityRef


def registered() -> dict[str, Callable[..., Any]]:
    # Building the activities only stores their dependencies; nothing here touches them.
    found: dict[str, Callable[..., Any]] = {}
    for fn in build_activities(cast(Any, None), cast(Any, None)):
        name = activity._Definition.must_from_callable(fn).name
        assert name is not None, "the worker registers no dynamic activity"
        found[name] = fn
    return found


def test_every_registered_activity_has_one_reference() -> None:
    names = [ref.name.value for ref in ALL]
    assert len(names) == len(set(names))
    assert set(names) == set(registered())


@pytest.mark.parametrize("ref", ALL, ids=lambda ref: ref.name.value)
def test_reference_matches_the_registered_activity(ref: ActivityRef[Any, Any]) -> None:
    definition = activity._Definition.must_from_callable(registered()[ref.name.value])
    assert definition.arg_types == [ref.input]
    assert definition.ret_type is ref.output
