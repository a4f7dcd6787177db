"""Strict validation of Realtime events against the official SDK's models (``openai.types.realtime``).

The SDK's models accept unknown keys (``extra="allow"``), so a plain
``validate`` would let a misspelled or invented field through. ``mismatches``
validates an event against the model its ``type`` selects (the
``RealtimeServerEvent`` / ``RealtimeClientEvent`` discriminated unions) in
strict mode (no ``"1"`` -> ``1`` coercion) and then walks the result, flagging
every key that landed in a model's ``__pydantic_extra__``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from openai.types.realtime import (
    ClientSecretCreateResponse,
    RealtimeClientEvent,
    RealtimeServerEvent,
)
from pydantic import BaseModel, TypeAdapter, ValidationError



def by_type(union: Any) -> dict[str, type[BaseModel]]:
    """The members of an SDK event union keyed by their ``type`` literal (the SDK's discriminator)."""
    if get_origin(union) is Annotated:
        union = get_args(union)[0]
    assert get_origin(union) is Union
    models: dict[str, type[BaseModel]] = {}
    for model in get_args(union):
        annotation = model.model_fields["type"].annotation
        assert get_origin(annotation) is Literal
        for value in get_args(annotation):
            models[value] = model
    return models


SERVER_EVENTS = by_type(RealtimeServerEvent)
CLIENT_EVENTS = by_type(RealtimeClientEvent)
CLIENT_SECRET = TypeAdapter(ClientSecretCreateResponse)


def undeclared_keys(value: Any, path: str) -> Iterable[str]:
    """Every key under ``value`` that no SDK model declares, as a dotted path."""
    if isinstance(value, BaseModel):
        for key in value.__pydantic_extra__ or {}:
            yield f"{path}.{key}"
        for name in type(value).model_fields:
            yield from undeclared_keys(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from undeclared_keys(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from undeclared_keys(item, f"{path}.{key}")


def mismatches(payload: dict[str, Any], models: dict[str, type[BaseModel]] | TypeAdapter[Any],
               label: str | None = None) -> list[str]:
    """Problems with one payload: validation errors (strict) and undeclared keys; empty when it conforms."""
    label = label or str(payload.get("type"))
    if isinstance(models, dict):
        model_class = models.get(str(payload.get("type")))
        if model_class is None:
            return [f"{label}: no SDK model has this type"]
        adapter: TypeAdapter[Any] = TypeAdapter(model_class)
    else:
        adapter = models
    try:
        model = adapter.validate_python(payload, strict=True)
    except ValidationError as error:
        return [f"{label}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r:.80})"
                for e in error.errors()]
    return [f"{label}: undeclared key {key}" for key in undeclared_keys(model, label)]


def server_mismatches(events: Iterable[dict[str, Any]]) -> list[str]:
    return [problem for event in events for problem in mismatches(event, SERVER_EVENTS)]


def client_mismatches(events: Iterable[dict[str, Any]]) -> list[str]:
    return [problem for event in events for problem in mismatches(event, CLIENT_EVENTS)]
