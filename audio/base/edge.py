"""AudioEdgeData: what travels along an audio edge.

Either a reference to a live stream in the :class:`~audio.base.registry.AudioRegistry`
(``type="stream"``) or a self-contained base64 buffer (``type="buffer"``). The
JSON form keeps the seed's camelCase keys (``streamId``, ``mimeType``,
``sampleRate``) so flows and tools exchanging edge data stay compatible.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from audio.base.errors import VoxflowError


class AudioEdgeData(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    type: Literal["stream", "buffer"]
    stream_id: str | None = Field(default=None, alias="streamId")
    buffer: str | None = None
    mime_type: str | None = Field(default=None, alias="mimeType")
    sample_rate: int | None = Field(default=None, alias="sampleRate", gt=0)

    @model_validator(mode="after")
    def _check_combination(self) -> AudioEdgeData:
        if self.type == "stream":
            if not self.stream_id:
                raise ValueError("a 'stream' edge needs streamId")
            if self.buffer is not None:
                raise ValueError("a 'stream' edge carries no buffer")
        else:
            if self.buffer is None:
                raise ValueError("a 'buffer' edge needs buffer (base64)")
            if self.stream_id is not None:
                raise ValueError("a 'buffer' edge carries no streamId")
            if not self.mime_type:
                raise ValueError("a 'buffer' edge needs mimeType")
        return self

    @classmethod
    def stream(cls, stream_id: str) -> AudioEdgeData:
        return cls(type="stream", streamId=stream_id)

    @classmethod
    def from_buffer(cls, buffer_b64: str, mime_type: str, sample_rate: int | None = None) -> AudioEdgeData:
        return cls(type="buffer", buffer=buffer_b64, mimeType=mime_type, sampleRate=sample_rate)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AudioEdgeData:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise VoxflowError(f"invalid audio edge data: {first['msg']}") from None
