"""string-combine: fills a template such as ``"{a}\\n\\n{b}"`` from its text inputs.

Inputs are named freely (``a``, ``b``, ``persona``...). When an input streams
new text, the output is rendered again, so a growing transcript stays combined.
"""

from __future__ import annotations

import asyncio
import string

from pydantic import Field

from flow.nodes.base import Node, NodeContext, NodeSettings, Port, PortType


class StringCombineSettings(NodeSettings):
    template: str = Field(description="Text with {name} placeholders, one per connected input, e.g. \"{a}\\n\\n{b}\".")


def placeholders(template: str) -> list[str] | None:
    """Names used in ``template``; None when the template is malformed."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return None
    names: list[str] = []
    for _, field_name, _, _ in parsed:
        if field_name is None:
            continue
        if not field_name.isidentifier():
            return None
        names.append(field_name)
    return names


class StringCombineNode(Node):
    type_name = "string-combine"
    summary = "Combines its text inputs with a template."
    Settings = StringCombineSettings
    outputs = (Port("text", PortType.TEXT, description="The filled-in template."),)
    dynamic_inputs = PortType.TEXT

    @classmethod
    def check_wiring(cls, settings: NodeSettings, inputs: set[str], outputs: set[str]) -> list[str]:
        assert isinstance(settings, StringCombineSettings)
        names = placeholders(settings.template)
        if names is None:
            return ["template is malformed: use {name} placeholders and write {{ or }} for literal braces"]
        problems = [
            f"template uses {{{name}}} but no edge feeds input '{name}': connect one or remove the placeholder"
            for name in dict.fromkeys(names)
            if name not in inputs
        ]
        problems += [
            f"input '{name}' is connected but the template never uses {{{name}}}"
            for name in sorted(inputs - set(names))
        ]
        return problems

    async def run(self, ctx: NodeContext) -> None:
        assert isinstance(self.settings, StringCombineSettings)
        template = self.settings.template
        names = list(dict.fromkeys(placeholders(template) or []))
        current = {name: ctx.input(name) or "" for name in names}
        ctx.emit("text", template.format(**current))

        async def follow(name: str) -> None:
            async for value in ctx.watch(name):
                if value != current[name]:
                    current[name] = value
                    ctx.emit("text", template.format(**current))

        await asyncio.gather(*(follow(name) for name in names))
