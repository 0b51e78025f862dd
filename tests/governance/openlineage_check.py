"""Validate OpenLineage events (as JSON) against the installed client's models.

The openlineage-python package ships no JSON Schema files; its ``generated`` package is code
generated from the spec's schemas (one attrs class per ``$defs`` entry, with the spec's
required fields, enums and format validators: UUID run ids, ISO date-times). An event is
valid when every object in it rebuilds into its class (facets picked by their
``_schemaURL``), no unknown field is left over, and the rebuilt event serialises back to
the same JSON.
"""

from __future__ import annotations

import enum
import importlib
import pkgutil
import types
import typing
from typing import Any

import attr
import openlineage.client.generated as generated
from openlineage.client.event_v2 import RunEvent
from openlineage.client.serde import Serde


def _classes() -> dict[str, type]:
    found: dict[str, type] = {}
    for info in pkgutil.iter_modules(generated.__path__):
        mod = importlib.import_module(f"{generated.__name__}.{info.name}")
        for name, value in vars(mod).items():
            if isinstance(value, type) and attr.has(value) and hasattr(value, "_get_schema"):
                try:
                    url = value._get_schema()
                except TypeError:
                    continue
                found[url] = value
                found.setdefault(name, value)
    return found


CLASSES = _classes()


class InvalidEvent(ValueError):
    pass


def _build(tp: Any, data: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _build(option, data, where)
            except (InvalidEvent, TypeError, ValueError) as exc:
                errors.append(str(exc))
        raise InvalidEvent(f"{where}: matches none of {options}: {errors}")
    if origin is list:
        if not isinstance(data, list):
            raise InvalidEvent(f"{where}: expected a list")
        return [_build(args[0], v, f"{where}[{i}]") for i, v in enumerate(data)]
    if origin is dict:
        if not isinstance(data, dict):
            raise InvalidEvent(f"{where}: expected an object")
        return {k: _build(args[1], v, f"{where}.{k}") for k, v in data.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(data)
    if isinstance(tp, type) and attr.has(tp):
        if not isinstance(data, dict):
            raise InvalidEvent(f"{where}: expected an object for {tp.__name__}")
        cls = tp
        url = data.get("_schemaURL")
        if url is not None:  # a facet: its own class, which must be a kind of the declared one
            cls = CLASSES.get(url)
            if cls is None or not issubclass(cls, tp):
                raise InvalidEvent(f"{where}: {url} is not a known {tp.__name__}")
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for f in attr.fields(cls):
            key = f.name
            if not f.init:
                continue
            public = key.lstrip("_")
            if key in data:
                kwargs[f.alias or key] = _build(hints[key], data[key], f"{where}.{key}")
            elif public in data and public != key:
                kwargs[f.alias or key] = _build(hints[key], data[public], f"{where}.{public}")
        known = {f.name for f in attr.fields(cls)} | {f.name.lstrip("_") for f in attr.fields(cls)}
        extra = set(data) - known - {"_producer", "_schemaURL", "schemaURL", "producer"}
        if extra:
            raise InvalidEvent(f"{where}: unknown fields {sorted(extra)} for {cls.__name__}")
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise InvalidEvent(f"{where}: {cls.__name__}: {exc}") from exc
    if tp is Any or tp is object:
        return data
    if isinstance(tp, type) and not isinstance(data, tp):
        raise InvalidEvent(f"{where}: expected {tp.__name__}, got {type(data).__name__}")
    return data


def validate_run_event(event: dict[str, Any]) -> RunEvent:
    """The event rebuilt from the models; raises InvalidEvent when it does not fit them."""
    if event.get("schemaURL", "").split("#/$defs/")[-1] != "RunEvent":
        raise InvalidEvent(f"not a RunEvent: {event.get('schemaURL')}")
    rebuilt = _build(RunEvent, event, "event")
    back = Serde.to_dict(rebuilt)
    if back != event:
        raise InvalidEvent("the event does not serialise back to itself (fields lost or added)")
    return rebuilt
