"""AudioRegistry semantics and AudioEdgeData's JSON round trip."""

from __future__ import annotations

import asyncio

import pytest

from audio.base.edge import AudioEdgeData
from audio.base.errors import VoxflowError
from audio.base.registry import AudioRegistry


class Stream:
    def __init__(self) -> None:
        self.stops = 0

    def stop(self) -> None:
        self.stops += 1


def test_register_gives_unique_ids_and_get_has_work(registry: AudioRegistry) -> None:
    a, b = Stream(), Stream()
    id_a, id_b = registry.register(a), registry.register(b, hint="mic")
    assert id_a != id_b and "mic" in id_b
    assert registry.get(id_a) is a and registry.has(id_b)
    assert not registry.has("nope")
    with pytest.raises(VoxflowError, match="not registered"):
        registry.get("nope")


def test_unregister_stops_exactly_once_then_forgets(registry: AudioRegistry) -> None:
    stream = Stream()
    stream_id = registry.register(stream)
    assert registry.unregister(stream_id) is True
    assert registry.unregister(stream_id) is False
    assert stream.stops == 1 and not registry.has(stream_id)


def test_clear_stops_all_even_if_one_fails(registry: AudioRegistry) -> None:
    class Broken:
        def stop(self) -> None:
            raise RuntimeError("device gone")

    streams = [Stream(), Stream()]
    registry.register(streams[0])
    registry.register(Broken())
    registry.register(streams[1])
    registry.clear()
    assert [s.stops for s in streams] == [1, 1]
    assert len(registry) == 0
    registry.clear()
    assert [s.stops for s in streams] == [1, 1]


async def test_async_stop_is_awaited(registry: AudioRegistry) -> None:
    stopped = asyncio.Event()

    class AsyncStream:
        async def stop(self) -> None:
            stopped.set()

    registry.register(AsyncStream())
    registry.clear()
    await asyncio.wait_for(stopped.wait(), 2)


def test_register_rejects_objects_without_stop(registry: AudioRegistry) -> None:
    with pytest.raises(TypeError):
        registry.register(object())  # type: ignore[arg-type]


def test_edge_data_round_trip_uses_camel_case() -> None:
    stream = AudioEdgeData.stream("stream-mic-1")
    assert stream.to_dict() == {"type": "stream", "streamId": "stream-mic-1"}
    assert AudioEdgeData.from_dict(stream.to_dict()) == stream
    buffer = AudioEdgeData.from_buffer("AAAA", "audio/pcm;rate=24000", 24000)
    assert buffer.to_dict() == {"type": "buffer", "buffer": "AAAA", "mimeType": "audio/pcm;rate=24000", "sampleRate": 24000}
    assert AudioEdgeData.from_dict(buffer.to_dict()) == buffer


@pytest.mark.parametrize(
    "data",
    [
        {"type": "stream"},
        {"type": "stream", "streamId": "s", "buffer": "AAAA"},
        {"type": "buffer", "mimeType": "audio/wav"},
        {"type": "buffer", "buffer": "AAAA"},
        {"type": "buffer", "buffer": "AAAA", "mimeType": "audio/wav", "streamId": "s"},
        {"type": "file", "streamId": "s"},
        {"type": "buffer", "buffer": "AAAA", "mimeType": "audio/wav", "sampleRate": 0},
    ],
)
def test_edge_data_rejects_invalid_combinations(data: dict) -> None:
    with pytest.raises(VoxflowError, match="invalid audio edge data"):
        AudioEdgeData.from_dict(data)


def test_run_options_never_show_secrets() -> None:
    from flow.options import RunOptions

    text = repr(RunOptions(api_key="sk-live-secret", share_token="vxs_secret", token_service="http://127.0.0.1:8787"))
    assert "sk-live-secret" not in text and "vxs_secret" not in text
    assert "token_service='http://127.0.0.1:8787'" in text
