"""Text to speech over HTTP: the client, its disk cache, and the local server's ``/v1/audio/speech``.

The client talks to a real local Realtime server on a loopback port (eSpeak behind OpenAI's route);
requests are counted by a real httpx transport that counts what it sends. The one test against
OpenAI itself runs only when ``OPENAI_API_KEY`` is set, and says so when it is skipped.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from audio.base.errors import VoxflowError
from audio.server import LocalRealtimeServer, ServerConfig
from audio.speech.speech_cache import SpeechCache, default_cache_dir
from audio.speech.speech_client import SPEECH_RATE, SpeechClient
from tests.audio.helpers import spoken_by

KEY = "sk-test-speechkey-0123456789"
TEXT = "What's the weather in Paris today?"


class CountingTransport(httpx.AsyncHTTPTransport):
    """A real transport that counts the requests it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(f"{request.method} {request.url.path}")
        return await super().handle_async_request(request)


@pytest.fixture
async def server() -> AsyncIterator[LocalRealtimeServer]:
    async with LocalRealtimeServer(ServerConfig(port=0, api_key=KEY)) as started:
        assert started.speech_enabled, "the local extra (eSpeak) is needed for these tests"
        yield started


async def test_the_local_server_speaks_pcm_in_the_voice_s_local_style(server: LocalRealtimeServer) -> None:
    audio = await SpeechClient(server.base_url, KEY).speak(TEXT, "marin")
    assert audio.dtype == np.int16
    assert 1.2 < len(audio) / SPEECH_RATE < 4.0  # a sentence, not a blip and not a minute
    assert np.sqrt(np.mean(audio.astype(np.float64) ** 2)) > 500  # spoken, not silence
    assert spoken_by(audio, TEXT, "marin") and not spoken_by(audio, TEXT, "onyx")


async def test_wav_is_the_same_samples_with_a_header(server: LocalRealtimeServer) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{server.base_url}/v1/audio/speech", headers={"Authorization": f"Bearer {KEY}"},
                                   json={"model": "tts-1", "voice": "coral", "input": TEXT, "response_format": "wav"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(answer.content)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (SPEECH_RATE, 1, 2)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    assert spoken_by(samples, TEXT, "coral") and not spoken_by(samples, TEXT, "cedar")


@pytest.mark.parametrize(("body", "param", "words"), [
    ({"response_format": "mp3"}, "response_format", "'mp3' is not spoken by the local server; use pcm or wav"),
    ({"response_format": "ogg"}, "response_format", "'ogg' is unknown; use pcm or wav"),
    ({"response_format": None}, "response_format", "None is unknown"),
    ({"voice": "bob"}, "voice", "Invalid voice 'bob'"),
    ({"model": "gpt-realtime"}, "model", "Invalid model 'gpt-realtime'"),
    ({"input": "  "}, "input", "non-empty"),
    ({"input": "x" * 4097}, "input", "4097 characters"),
    ({"speed": 1.5}, "speed", "speed 1.0 only"),
    ({"stream_format": "sse"}, "stream_format", "whole audio only"),
    ({"colour": "blue"}, "colour", "Unrecognized request argument supplied: colour"),
])
async def test_what_the_local_server_cannot_honour_is_a_400_in_openai_s_shape(
        server: LocalRealtimeServer, body: dict[str, object], param: str, words: str) -> None:
    request = {"model": "gpt-4o-mini-tts", "voice": "marin", "input": TEXT, "response_format": "pcm"} | body
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{server.base_url}/v1/audio/speech", headers={"Authorization": f"Bearer {KEY}"},
                                   json=request)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and words in error["message"]


async def test_the_default_format_is_mp3_and_refused(server: LocalRealtimeServer) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{server.base_url}/v1/audio/speech", headers={"Authorization": f"Bearer {KEY}"},
                                   json={"model": "gpt-4o-mini-tts", "voice": "marin", "input": TEXT})
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "response_format"


async def test_a_wrong_key_is_a_401_message_without_the_key(server: LocalRealtimeServer,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    wrong = "sk-wrong-secret-abcdef987654"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(VoxflowError) as caught:
        await SpeechClient(server.base_url, wrong).speak(TEXT, "marin")
    assert str(caught.value).splitlines() == [
        "the speech service at 127.0.0.1 refused the API key (401: Incorrect API key provided.)",
        "Check OPENAI_API_KEY, or give the caller an espeak: voice (offline).",
    ]
    assert wrong not in caplog.text and KEY not in caplog.text
    async with httpx.AsyncClient() as client:  # no key at all is refused the same way, as by every route
        answer = await client.post(f"{server.base_url}/v1/audio/speech",
                                   json={"model": "tts-1", "voice": "marin", "input": TEXT, "response_format": "pcm"})
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "invalid_api_key"


async def test_a_refused_voice_names_the_voice_the_model_and_the_service_s_words(server: LocalRealtimeServer) -> None:
    with pytest.raises(VoxflowError) as caught:
        await SpeechClient(server.base_url, KEY, model="tts-1-hd").speak(TEXT, "bob")
    first = str(caught.value).splitlines()[0]
    assert first.startswith("the speech service at 127.0.0.1 refused voice 'bob' with model 'tts-1-hd' (400: Invalid voice 'bob'")
    assert KEY not in str(caught.value)


async def test_an_unreachable_service_is_one_line_naming_the_host() -> None:
    with pytest.raises(VoxflowError) as caught:
        await SpeechClient("http://127.0.0.1:9", KEY).speak(TEXT, "marin")
    assert str(caught.value).splitlines()[0] == "could not reach the speech service at 127.0.0.1 (ConnectError)"
    assert KEY not in str(caught.value)


async def test_the_second_call_is_served_from_the_cache_without_a_request(server: LocalRealtimeServer,
                                                                         tmp_path: Path) -> None:
    transport = CountingTransport()
    client = SpeechClient(server.base_url, KEY, cache=SpeechCache(tmp_path), transport=transport)
    first = await client.speak(TEXT, "marin")
    again = await SpeechClient(server.base_url, KEY, cache=SpeechCache(tmp_path), transport=transport).speak(TEXT, "marin")
    assert transport.sent == ["POST /v1/audio/speech"]
    assert np.array_equal(first, again)
    await client.speak(TEXT, "cedar")  # another voice is another entry
    await client.speak(TEXT + " ", "marin")  # and so is another text
    assert len(transport.sent) == 3
    other = SpeechClient(server.base_url.replace("127.0.0.1", "localhost"), KEY, cache=SpeechCache(tmp_path),
                         transport=transport)
    await other.speak(TEXT, "marin")  # another service is another entry: eSpeak never passes for OpenAI's voice
    assert len(transport.sent) == 4
    assert not list(tmp_path.rglob("*.part"))  # no temporary file left behind


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "garbage"])
async def test_a_damaged_cache_file_is_fetched_again(server: LocalRealtimeServer, tmp_path: Path, damage: str) -> None:
    transport = CountingTransport()
    cache = SpeechCache(tmp_path)
    client = SpeechClient(server.base_url, KEY, cache=cache, transport=transport)
    first = await client.speak(TEXT, "marin")
    path = cache.path_for(client.base_url, client.model, "marin", TEXT, "pcm")
    data = path.read_bytes()
    assert data.endswith(first.tobytes())
    path.write_bytes({"truncate": data[: len(data) // 2], "flip": data[:-1] + bytes([data[-1] ^ 1]), "empty": b"",
                      "garbage": b"not speech at all"}[damage])
    again = await client.speak(TEXT, "marin")
    assert len(transport.sent) == 2 and len(again) == len(first)
    assert cache.get(client.base_url, client.model, "marin", TEXT, "pcm") == again.tobytes()  # written whole again
    assert np.array_equal(await client.speak(TEXT, "marin"), again)
    assert len(transport.sent) == 2


def test_the_cache_folder_follows_the_environment(tmp_path: Path) -> None:
    assert default_cache_dir({"VOXFLOW_CACHE_DIR": str(tmp_path), "XDG_CACHE_HOME": "/x"}) == tmp_path
    assert default_cache_dir({"XDG_CACHE_HOME": "/var/cache/me"}) == Path("/var/cache/me/voxflow/speech")
    assert default_cache_dir({"XDG_CACHE_HOME": "relative"}) == Path.home() / ".cache" / "voxflow" / "speech"
    assert default_cache_dir({}) == Path.home() / ".cache" / "voxflow" / "speech"


async def test_the_cache_folder_from_the_environment_is_where_speech_lands(
        server: LocalRealtimeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOXFLOW_CACHE_DIR", str(tmp_path / "speech"))
    client = SpeechClient(server.base_url, KEY, cache=SpeechCache())
    await client.speak(TEXT, "marin")
    assert [p.suffix for p in (tmp_path / "speech").rglob("*") if p.is_file()] == [".pcm"]


def test_readers_never_see_half_an_entry_while_writers_replace_it(tmp_path: Path) -> None:
    cache = SpeechCache(tmp_path)
    payloads = [bytes([n]) * (200_000 + n) for n in range(4)]
    seen: set[int] = set()
    stop = threading.Event()
    bad: list[int] = []

    def write(payload: bytes) -> None:
        while not stop.is_set():
            cache.put("s", "m", "v", "t", "pcm", payload)

    def read() -> None:
        for _ in range(400):
            got = cache.get("s", "m", "v", "t", "pcm")
            if got is None:
                bad.append(-1)  # a whole entry is always there: a miss means a reader saw a damaged one
            elif got in payloads:
                seen.add(len(got))
            else:
                bad.append(len(got))

    cache.put("s", "m", "v", "t", "pcm", payloads[0])
    writers = [threading.Thread(target=write, args=(p,)) for p in payloads]
    for thread in writers:
        thread.start()
    try:
        read()
    finally:
        stop.set()
        for thread in writers:
            thread.join()
    assert bad == [] and seen  # every read was one whole payload
    assert not list(tmp_path.rglob("*.part"))


async def test_an_unwritable_cache_still_speaks(server: LocalRealtimeServer, tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the folder should be")
    audio = await SpeechClient(server.base_url, KEY, cache=SpeechCache(blocked / "speech")).speak(TEXT, "marin")
    assert len(audio) > SPEECH_RATE


@pytest.mark.skipif(not os.environ.get("OPENAI_API_KEY"), reason="OPENAI_API_KEY is not set: OpenAI's speech endpoint is not exercised")
async def test_openai_s_speech_endpoint_speaks_and_is_cached(tmp_path: Path) -> None:
    from audio.wire import DEFAULT_BASE_URL, normalize_base_url

    transport = CountingTransport()
    base = normalize_base_url(os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
    client = SpeechClient(base, os.environ["OPENAI_API_KEY"], cache=SpeechCache(tmp_path), transport=transport)
    audio = await client.speak("Hello, can you hear me?", "marin")
    assert 0.6 < len(audio) / SPEECH_RATE < 5.0
    assert np.sqrt(np.mean(audio.astype(np.float64) ** 2)) > 300
    assert np.array_equal(await client.speak("Hello, can you hear me?", "marin"), audio)
    assert transport.sent == ["POST /v1/audio/speech"]
    with pytest.raises(VoxflowError, match="refused voice 'no-such-voice'"):
        await client.speak("Hello.", "no-such-voice")


def test_the_voices_are_those_of_openai_s_sdk() -> None:
    from typing import Literal, get_args, get_origin

    from openai.types.audio.speech_create_params import Voice

    from audio.wire import SPEECH_VOICES

    (names,) = [arg for arg in get_args(Voice) if get_origin(arg) is Literal]
    assert sorted(get_args(names)) == list(SPEECH_VOICES)


async def test_openai_s_own_client_speaks_with_the_local_server(server: LocalRealtimeServer) -> None:
    from openai import AsyncOpenAI

    async with AsyncOpenAI(base_url=f"{server.base_url}/v1", api_key=KEY, max_retries=0) as client:
        answer = await client.audio.speech.create(model="gpt-4o-mini-tts", voice="onyx", input=TEXT,
                                                  response_format="pcm")
        pcm = np.frombuffer(answer.content, dtype="<i2")
        assert spoken_by(pcm, TEXT, "onyx")
