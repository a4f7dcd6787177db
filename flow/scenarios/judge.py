"""The ``judge: "criterion in plain words"`` assertion: a model reads the run's transcript and grades it.

Some things a regex cannot check ("the assistant confirmed the booking politely"). The judge
asks a Realtime session -- the project's own session core, in text mode, with push-to-talk so
no microphone is opened -- for one line, ``PASS: reason`` or ``FAIL: reason``, and returns it
as a non-deterministic :class:`~flow.scenarios.results.Check` (reported apart from the
deterministic checks; it never decides a run).

Against OpenAI it needs ``OPENAI_API_KEY``. Against the local server (``provider="local"``,
started in-process on a free port for the one question, as a flow's realtime node does) the
answer comes from a rule script (``audio/server/tool_script.py``): the first rule whose
``when`` regex matches the question says the verdict, so judge tests run offline and
deterministically. The question is ``Criterion: ...``, a blank line, ``Transcript:`` and the
transcript's ``User: ...`` / ``Assistant: ...`` lines, which is what such rules match.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from audio.base import AudioRegistry
from audio.base.errors import VoxflowError
from audio.session import RealtimeSession, ResponseDone, SessionState
from audio.transports import DirectSecretProvider
from audio.wire import DEFAULT_BASE_URL, SessionConfig, protocol
from flow.scenarios.results import Check, Run
from flow.scenarios.run_transcript import transcript_text

INSTRUCTIONS = (
    "You grade one voice conversation against one criterion. Read the transcript and decide whether the "
    "criterion holds. Answer with exactly one line: 'PASS: <reason>' or 'FAIL: <reason>', where the reason is "
    "one short sentence citing what was said."
)
LOCAL_KEY = "voxflow-local"  # the in-process local server accepts any key
NO_KEY = ("the judge needs OPENAI_API_KEY to grade against OpenAI: export it, or grade against the local server "
          "(--provider local) with a rule script")
_VERDICT = re.compile(r"^\W*(PASS|FAIL)\b[\s:.,;*\-\u2013\u2014]*(.*)$", re.IGNORECASE)


def question(criterion: str, transcript: str) -> str:
    """What the judge is asked: the criterion, then the transcript."""
    return f"Criterion: {criterion.strip()}\n\nTranscript:\n{transcript.strip()}"


def parse_verdict(criterion: str, answer: str) -> Check:
    """The judge's answer as a check: the first line starting with PASS or FAIL decides; none is a failed check."""
    for line in answer.splitlines():
        found = _VERDICT.match(line.strip())
        if found is not None:
            verdict = found.group(1).upper()
            return Check(kind="judge", passed=verdict == "PASS", expected=criterion, actual=verdict,
                         deterministic=False, reason=found.group(2).strip())
    shown = " ".join(answer.split())[:200] or "(nothing)"
    return Check(kind="judge", passed=False, expected=criterion, actual="no verdict", deterministic=False,
                 reason=f"the judge answered without PASS or FAIL: {shown}")


async def judge(
    criterion: str,
    transcript: str,
    *,
    provider: str,
    transport: str,
    local_script: Path | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    model: str = "gpt-realtime",
    timeout_s: float = 60.0,
) -> Check:
    """Grade ``transcript`` against ``criterion`` with a model; see the module docstring.

    ``transcript``: the conversation as ``User: ...`` / ``Assistant: ...`` lines, as the live
    session's ``Transcript.as_text()`` gives them, or ``transcript_text(run, times=False)``
    (:mod:`flow.scenarios.run_transcript`) for a finished run.

    ``provider``: ``local`` (needs ``local_script``, a rule script) or ``openai`` (``api_key``,
    default ``OPENAI_API_KEY``; ``base_url`` default OpenAI's). ``transport``: ``webrtc``,
    ``websocket`` or ``auto``. Raises :class:`VoxflowError` when the judge cannot be asked
    (no key, no rule script, the session failed, no answer within ``timeout_s``); an answer
    that is not a verdict is a failed check whose reason quotes it.
    """
    if not criterion.strip():
        raise VoxflowError("judge: the criterion is empty", hint='Write it in plain words, e.g. judge: "the assistant said goodbye".')
    async with contextlib.AsyncExitStack() as stack:
        secrets, url = await _service(stack, provider, local_script, api_key, base_url)
        config = SessionConfig.build(model=model, vad="disabled", instructions=INSTRUCTIONS, transcription_model=None,
                                     base_url=url, transport=transport, reconnect=False)
        session = RealtimeSession(config, secret_provider=secrets, registry=AudioRegistry(), echo_guard=False,
                                  provider_label=f"judge ({provider})")
        stack.push_async_callback(session.disconnect)
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def on_event(event: object) -> None:
            if isinstance(event, ResponseDone) and not done.done():
                done.set_result(event.status)

        stack.callback(session.events.add_callback(on_event))
        await session.connect()
        session.send_event(protocol.user_text_item(question(criterion, transcript)))
        session.send_event({"type": "response.create", "response": {"output_modalities": ["text"]}})
        closed = asyncio.ensure_future(session.wait_closed())
        try:
            await asyncio.wait({done, closed}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
        if not done.done():
            if session.state is SessionState.ERROR or session.state is SessionState.DISCONNECTED:
                raise VoxflowError(f"the judge's session ended before it answered: {session.reason}")
            raise VoxflowError(f"the judge gave no verdict within {timeout_s:g} s",
                               hint="Try again, or raise the judge's timeout.")
        if done.result() != "completed":
            raise VoxflowError(f"the judge's response ended {done.result()} before a verdict")
        answer = "\n".join(entry.text for entry in session.transcript.entries() if entry.role == "assistant")
    return parse_verdict(criterion.strip(), answer)


async def _service(stack: contextlib.AsyncExitStack, provider: str, local_script: Path | None, api_key: str | None,
                   base_url: str | None) -> tuple[Any, str]:
    """The judge's secret provider and base URL; a local server is started on ``stack``."""
    if provider == "openai":
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        if not key:
            raise VoxflowError(NO_KEY)
        url = base_url or DEFAULT_BASE_URL
        return DirectSecretProvider(key, base_url=url), url
    if provider != "local":
        raise VoxflowError(f"judge: unknown provider {provider!r}", hint="Use provider openai or local.")
    if local_script is None:
        raise VoxflowError("the judge against the local server needs a rule script that says PASS or FAIL",
                           hint="Give the scenario's local judge script, or grade with --provider openai and a key.")
    from audio.server import LocalRealtimeServer, ServerConfig, ToolScript  # aiortc, uvicorn: only when a judge runs

    try:
        text = Path(local_script).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise VoxflowError(f"judge rule script {local_script}: cannot read it ({getattr(error, 'strerror', None) or error})",
                           hint="Give a UTF-8 YAML file of rules (when, say).") from None
    server = LocalRealtimeServer(ServerConfig(host="127.0.0.1", port=0, speech=False,
                                              rules=ToolScript.parse(text, str(local_script))))
    await server.start()
    stack.push_async_callback(server.stop)
    return DirectSecretProvider(LOCAL_KEY, base_url=server.base_url), server.base_url


async def judge_turns(run: Run, criteria: Mapping[int, str | Sequence[str]], *, provider: str, transport: str,
                      local_script: Path | None = None, api_key: str | None = None,
                      base_url: str | None = None) -> Run:
    """``run`` with each criterion's verdict added to its turn (``criteria``: turn index -> one criterion or several).

    Asked after the run ended, on the whole transcript (a criterion may be about the whole call).
    A judge that cannot be asked (no key, no rule script, no answer) is a failed judge check whose
    reason says why; like every judge check it is reported apart and never decides the run. A turn
    the run never reached has no verdict (the run's error says why).
    """
    if not criteria:
        return run
    transcript = transcript_text(run, times=False)
    turns = []
    for turn in run.turns:
        asked = criteria.get(turn.index)
        if not asked:
            turns.append(turn)
            continue
        checks = []
        for criterion in [asked] if isinstance(asked, str) else asked:
            try:
                checks.append(await judge(criterion, transcript, provider=provider, transport=transport,
                                          local_script=local_script, api_key=api_key, base_url=base_url))
            except VoxflowError as error:
                checks.append(Check(kind="judge", passed=False, expected=criterion.strip(), actual="no verdict",
                                    deterministic=False, reason=error.message))
        turns.append(replace(turn, checks=(*turn.checks, *checks)))
    return replace(run, turns=tuple(turns))
