"""With a standard key a session connects in one request, and mints a client secret only when a service refuses that.

OpenAI's GA API accepts ``POST /v1/realtime/calls`` with the standard key as a
multipart form (``sdp`` + ``session``); a server may have no
``/v1/realtime/client_secrets`` at all (issue #21). Over WebSocket the key is
the Bearer header itself.
"""

from __future__ import annotations

import asyncio
import io
import logging

import pytest

from audio.base.errors import VoxflowError
from audio.server.config import FaultConfig
from audio.transports.secrets import DirectSecretProvider
from flow.headless import EXIT_OK, HeadlessOptions, HeadlessRun
from flow.loader import load_flow_text
from flow.options import RunOptions
from tests.headless.test_end_of_input import FLOW, SYNTH, write_case
from tests.realtime_session.conftest import assert_released



async def until(predicate, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("transport", ["webrtc", "websocket"])
async def test_a_server_without_client_secrets_is_reached_with_the_standard_key(
    start_server, make_session, registry, caplog, transport: str
) -> None:
    server = await start_server(faults=FaultConfig(no_client_secrets=True))
    session, _ = make_session(server, voice="cedar", instructions="Be brief.", transport=transport)
    with caplog.at_level(logging.INFO, logger="audio.transports"):
        await session.connect()
    call = next(iter(server.calls.values()))
    await until(lambda: "session.updated" in call.sent_types or transport == "webrtc")
    assert call.session["audio"]["output"]["voice"] == "cedar" and call.session["instructions"] == "Be brief."
    if transport == "webrtc":  # the session came with the call: nothing left to update
        assert "WebRTC call created in one request" in caplog.text
        assert "session.update" not in call.received_types
    else:  # the key opened the socket; the session was set after session.created
        assert "WebSocket authenticated with the standard key" in caplog.text
        assert "session.update" in call.received_types
    assert "sk-test-key" not in caplog.text
    await session.disconnect()
    await assert_released(session, registry)


@pytest.mark.parametrize("status", [404, 405, 415])
async def test_a_refused_form_falls_back_to_a_client_secret(start_server, registry, caplog, status: int) -> None:
    server = await start_server(faults=FaultConfig(refuse_call_form=status))
    from audio.session.session import RealtimeSession
    from audio.wire.config import SessionConfig

    provider = DirectSecretProvider("sk-test-key", base_url=server.base_url)
    session = RealtimeSession(SessionConfig.build(base_url=server.base_url, voice="ash"), secret_provider=provider,
                              registry=registry)
    with caplog.at_level(logging.INFO, logger="audio.transports"):
        await session.connect()
    assert f"refused the one-request call ({status}): minting a client secret first" in caplog.text
    assert next(iter(server.calls.values())).session["audio"]["output"]["voice"] == "ash"  # from the minted secret
    assert provider.one_request is False  # the next connection mints at once
    await session.disconnect()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="audio.transports"):
        await session.connect()
    assert "refused the one-request call" not in caplog.text and "one request" not in caplog.text
    await session.disconnect()
    await assert_released(session, registry)


async def test_a_refusal_that_is_not_about_the_form_is_reported(start_server, make_session, registry) -> None:
    server = await start_server(api_key="sk-the-right-one")
    session, _ = make_session(server)  # its key is "sk-test-key": refused, and minting would be refused too
    with pytest.raises(VoxflowError, match=r"refused the call \(401\)") as info:
        await session.connect()
    assert "sk-test-key" not in str(info.value)
    await assert_released(session, registry)


async def test_a_server_with_neither_form_says_so(start_server, make_session, registry) -> None:
    server = await start_server(faults=FaultConfig(no_client_secrets=True, refuse_call_form=404))
    session, _ = make_session(server)
    with pytest.raises(VoxflowError, match=r"refused a session \(404\)"):
        await session.connect()
    await assert_released(session, registry)


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_headless_run_with_a_standard_key_against_a_server_without_client_secrets(
    start_server, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run that ended "refused a session (404): Not Found", exit 1, against a server without client_secrets."""
    from flow.nodes import realtime as realtime_node

    monkeypatch.setattr(realtime_node, "END_GRACE_SECONDS", 0.3)
    server = await start_server(reply="script", script=["Hello back."], faults=FaultConfig(no_client_secrets=True))
    flow = load_flow_text(FLOW.format(vad="server_vad"), "standard-key.yaml")
    wav = write_case(tmp_path / "turn.wav", SYNTH, 600)
    options = RunOptions(input_file=wav, provider="openai", api_key="sk-test", base_url=server.base_url)
    err = io.StringIO()
    runner = HeadlessRun(flow, options, HeadlessOptions(max_duration=40), out=io.StringIO(), err=err)
    code = await runner.run()
    assert code == EXIT_OK, err.getvalue()
    assert ("assistant", "Hello back.") in [(e.role, e.text) for e in runner.transcript_entries()]
