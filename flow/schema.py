"""The flow document's pydantic models, and the JSON Schema generated from them.

Each node type contributes one model (its settings plus ``id``, ``type`` and
``label``); the document's ``nodes`` list is a union discriminated by ``type``,
so yaml-language-server completes and checks settings per type. Validation
uses the same per-type models (see :mod:`flow.validate`).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

from flow.model import ID_PATTERN
from flow.nodes import registry

ENDPOINT_PATTERN = r"^[a-z0-9_-]+\.[a-z0-9_-]+$"


class EdgeDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from", pattern=ENDPOINT_PATTERN, description="Source: NODE.OUTPUT_PORT")
    to: str = Field(pattern=ENDPOINT_PATTERN, description="Target: NODE.INPUT_PORT")


class FlowHeader(BaseModel):
    """The document's top level; ``nodes`` are checked per type afterwards."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = Field(description="Flow format version; always 1.")
    name: str = Field(min_length=1, description="Shown in the app's header.")
    description: str = ""
    nodes: list[dict[str, Any]] = Field(min_length=1)
    edges: list[EdgeDocument] = Field(default_factory=list)


@cache
def node_document_model(type_name: str) -> type[BaseModel]:
    """The model of one node entry of ``type_name``: its settings plus id/type/label."""
    node_class = registry.get(type_name)
    if node_class is None:
        raise KeyError(type_name)
    settings = node_class.Settings
    model = create_model(
        _class_name(type_name),
        __base__=settings,
        __doc__=node_class.summary or None,
        id=(str, Field(pattern=ID_PATTERN, description="Unique node id: lowercase letters, digits, - and _.")),
        type=(Literal[type_name], Field(description=node_class.summary or type_name)),  # type: ignore[valid-type, arg-type]
        label=(str | None, None),
    )
    model.model_config["frozen"] = False
    return model


def setting_names(type_name: str) -> list[str]:
    node_class = registry.get(type_name)
    return list(node_class.Settings.model_fields) if node_class else []


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a flow file, generated from the models."""
    node_models = [node_document_model(name) for name in registry.type_names()]
    node_union = Annotated[Union[tuple(node_models)], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007
    document = create_model(
        "VoxflowFlow",
        __config__=ConfigDict(extra="forbid", title="voxflow flow"),
        version=(Literal[1], ...),
        name=(str, Field(min_length=1)),
        description=(str, ""),
        nodes=(list[node_union], Field(min_length=1)),  # type: ignore[valid-type]
        edges=(list[EdgeDocument], Field(default_factory=list)),
    )
    schema = TypeAdapter(document).json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=False)


def _class_name(type_name: str) -> str:
    return "".join(part.capitalize() for part in type_name.replace("_", "-").split("-")) + "Node"
