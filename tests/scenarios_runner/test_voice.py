"""The caller's voice: eSpeak in process, or ``/v1/audio/speech`` (OpenAI's, or the run's local server).

Real local Realtime servers on loopback ports answer the speech route; ``voxflow test`` is run in
process (its exit code and its lines), with the server it calls on a thread of its own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from audio.base.errors import VoxflowError
from audio.server import LocalRealtimeServer, ServerConfig
from flow.scenarios.conversation import RunSettings
from flow.scenarios.harness import LocalServers
from flow.scenarios.loader import ScenarioFile, load_scenarios
from flow.scenarios.voice import CALLER_RATE, CallerVoice, EspeakSpeaker, ServiceSpeaker, caller_voice
from tests.audio.helpers import spoken_by
from tui.cli import main

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "flows" / "demo.yaml"
KEY = "sk-test-callervoice-0123456789"


def scenario_file(folder: Path, voice: str, say: str = "Hello, can you hear me?") -> ScenarioFile:
    path = folder / "voice.yaml"
    path.write_text(f"version: 1\nflow: {DEMO}\ncaller: {{voice: '{voice}'}}\nscenarios:\n"
                    f"  - name: speaks\n    turns: [{{say: \"{say}\"}}]\n")
    return load_scenarios(path)


async def test_an_espeak_voice_is_spoken_in_process(tmp_path: Path) -> None:
    voice = caller_voice(scenario_file(tmp_path, "espeak:en-gb-x-rp"), RunSettings(tmp_path, provider="openai"))
    assert isinstance(voice.speaker, EspeakSpeaker) and voice.speaker.espeak_voice == "en-gb-x-rp"
    audio = await voice.say("An eSpeak voice needs no service.")
    assert audio.dtype == np.int16 and len(audio) > CALLER_RATE


async def test_an_openai_voice_against_the_local_provider_is_spoken_by_the_run_s_server(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOXFLOW_CACHE_DIR", str(tmp_path / "cache"))
    servers = LocalServers()
    try:
        file = scenario_file(tmp_path, "openai:onyx")
        voice = caller_voice(file, RunSettings(tmp_path, provider="local", servers=servers))
        assert isinstance(voice.speaker, ServiceSpeaker) and voice.speaker.key == "openai:onyx@local"
        text = "The local server speaks the onyx voice with eSpeak."
        audio = await voice.say(text)
        assert len(servers.servers) == 1  # the run's server, started for the flow, answered
        assert spoken_by(audio, text, "onyx") and not spoken_by(audio, text, "marin")
        assert await voice.say(text) is audio  # once per process
    finally:
        await servers.close()
    assert not (tmp_path / "cache").exists()  # eSpeak's stand-in for onyx is never kept as onyx


async def test_an_openai_voice_against_openai_uses_the_run_s_key_and_base_url_and_caches_on_disk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOXFLOW_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    async with LocalRealtimeServer(ServerConfig(port=0, api_key=KEY)) as server:  # standing in for OpenAI
        file = scenario_file(tmp_path, "marin")
        voice = caller_voice(file, RunSettings(tmp_path, provider="openai", api_key=KEY, base_url=f"{server.base_url}/v1/"))
        text = "OpenAI's marin, cached on disk."
        audio = await voice.say(text)
        assert spoken_by(audio, text, "marin") and not spoken_by(audio, text, "cedar")
        assert [p.suffix for p in (tmp_path / "cache").rglob("*") if p.is_file()] == [".pcm"]
        wrong = caller_voice(file, RunSettings(tmp_path, provider="openai", api_key="sk-wrong-0000000000",
                                               base_url=server.base_url))
        with pytest.raises(VoxflowError, match=r"refused the API key \(401"):
            await wrong.say("Another sentence, not cached.")


def test_an_openai_voice_against_openai_needs_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(VoxflowError) as caught:
        caller_voice(scenario_file(tmp_path, "openai:marin"), RunSettings(tmp_path, provider="openai"))
    assert str(caught.value) == ("the caller's voice openai:marin needs OPENAI_API_KEY to speak with OpenAI: "
                                 "export it, or give the caller an espeak: voice")
    with pytest.raises(VoxflowError, match="needs the run's local server"):
        caller_voice(scenario_file(tmp_path, "openai:marin"), RunSettings(tmp_path, provider="local"))


@pytest.fixture
def threaded_server() -> Iterator[str]:
    """A local server with a key, on a loop of its own thread (``voxflow test`` runs its own loop)."""
    loop = asyncio.new_event_loop()
    server = LocalRealtimeServer(ServerConfig(port=0, api_key=KEY))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=30)
    try:
        yield server.base_url
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def test_voxflow_test_with_a_refused_key_exits_2_without_the_key(
        tmp_path: Path, threaded_server: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "sk-wrong-clikey-abcdef123456"
    monkeypatch.setenv("OPENAI_API_KEY", wrong)
    monkeypatch.setenv("OPENAI_BASE_URL", threaded_server)
    monkeypatch.setenv("VOXFLOW_CACHE_DIR", str(tmp_path / "cache"))
    file = scenario_file(tmp_path, "openai:marin", say="A sentence nobody has said before in this process.")
    with pytest.raises(SystemExit) as ended:
        main(["test", str(file.path), "--provider", "openai", "--artifacts", str(tmp_path / "art")])
    assert ended.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-2:] == [
        "voxflow: the speech service at 127.0.0.1 refused the API key (401: Incorrect API key provided.)",
        "Check OPENAI_API_KEY, or give the caller an espeak: voice (offline).",
    ]
    assert wrong not in err and "Traceback" not in err


def test_voxflow_test_with_an_openai_voice_and_no_key_says_so_and_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    file = scenario_file(tmp_path, "openai:marin")
    with pytest.raises(SystemExit) as ended:
        main(["test", str(file.path), "--provider", "openai"])
    assert ended.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"voxflow: --provider openai needs OPENAI_API_KEY, which is not set; so does the caller's voice openai:marin ({file.path})",
        "Export OPENAI_API_KEY, or run against the local server: --provider local (the default; it speaks openai: voices "
        "with eSpeak).",
    ]


class CountingSpeaker:
    """A TextSpeaker that counts what it is asked and answers when released (runs asking at once)."""

    def __init__(self, fail: bool = False) -> None:
        self.key = f"counting:{id(self)}"
        self.asked: list[str] = []
        self.release = asyncio.Event()
        self.fail = fail

    async def speak(self, text: str, rate: int) -> np.ndarray:
        self.asked.append(text)
        await self.release.wait()
        if self.fail:
            raise VoxflowError("the speech service failed")
        return np.ones(rate // 10, dtype=np.int16)


async def test_runs_asking_for_the_same_sentence_at_once_share_one_synthesis() -> None:
    speaker = CountingSpeaker()
    voices = [CallerVoice(speaker=speaker) for _ in range(4)]  # four runs, -j 4
    asking = [asyncio.ensure_future(voice.say("Hello there.")) for voice in voices]
    await asyncio.sleep(0)
    asking[0].cancel()  # one run is cancelled: the others still get the sentence
    speaker.release.set()
    results = await asyncio.gather(*asking, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert speaker.asked == ["Hello there."] and all(r is results[1] for r in results[1:])
    assert await voices[0].say("Hello there.") is results[1] and speaker.asked == ["Hello there."]


async def test_a_failed_synthesis_is_tried_again_by_the_next_run() -> None:
    speaker = CountingSpeaker(fail=True)
    speaker.release.set()
    with pytest.raises(VoxflowError):
        await CallerVoice(speaker=speaker).say("Once more.")
    speaker.fail = False
    assert len(await CallerVoice(speaker=speaker).say("Once more.")) == CALLER_RATE // 10
    assert speaker.asked == ["Once more.", "Once more."]
