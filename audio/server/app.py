"""The local Realtime server: OpenAI's GA HTTP routes on Starlette, served by uvicorn in the caller's loop.

``LocalRealtimeServer.start()`` binds a socket itself (so ``port=0`` yields
its real port at once) and runs ``uvicorn.Server.serve`` as a task of the
*current* event loop, without touching signal handlers: the server can be
embedded in the TUI, the headless runner or a test. ``stop()`` hangs up every
call and shuts the HTTP server down, leaving no task behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Callable, Iterator
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from audio.base.errors import VoxflowError
from audio.base.listen import bind_listener
from audio.base.pubsub import EventHub
from audio.server.calls import Call
from audio.server.events import CallClosed, CallOpened, ServerEvent, TurnRecognized
from audio.server.config import ServerConfig
from audio.server.keys import KeyStore, same_secret
from audio.wire.objects import error_body, new_id
from audio.server.text_to_speech import speech_response
from audio.server.transcription_settings import check_transcription
from audio.wire.session_schema import (
    ConfigError, default_session, merge, parse_update, secret_session,
)
from audio.speech.engines import SpeechEngines
from audio.speech.speech_probability import MODELS
from audio.server.webrtc_link import WebRtcLink
from audio.server.websocket_link import WebSocketLink

logger = logging.getLogger("voxflow.realtime.server")

MIN_SECRET_SECONDS, MAX_SECRET_SECONDS, DEFAULT_SECRET_SECONDS = 10, 7200, 600
MAX_SDP_BYTES = 64 * 1024
BETA_HEADER = "openai-beta"


def _error(status: int, code: str, message: str, *, type: str = "invalid_request_error",
           param: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, type=type, param=param), status_code=status)


def _beta_refused() -> JSONResponse:
    return _error(400, "beta_api_shape_disabled", "The Realtime beta interface is no longer supported;"
                  " use the GA interface (/v1/realtime/client_secrets and /v1/realtime/calls, no OpenAI-Beta header).")


def _bearer(request: HTTPConnection) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _form_parts(content_type: str, body: bytes) -> dict[str, bytes]:
    """The named parts of a ``multipart/form-data`` body (``email`` parses MIME; no extra dependency)."""
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    parts: dict[str, bytes] = {}
    if not message.is_multipart():
        return parts
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            parts[name] = payload
    return parts


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its SIGINT/SIGTERM handlers: the host program owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class LocalRealtimeServer:
    """An offline stand-in for OpenAI's Realtime service, same HTTP + WebRTC protocol."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.calls: dict[str, Call] = {}        # live calls by id
        self.ended_calls: dict[str, Call] = {}  # calls that have closed, for tests to inspect
        self._keys = KeyStore(self.config.clock)
        self._speech: SpeechEngines | None = None
        self._uvicorn: _EmbeddedUvicorn | None = None
        self._serve_task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None
        self._port: int | None = None
        self.events: EventHub[ServerEvent] = EventHub()  # calls opened and closed, turns recognised (audio/server/events.py)
        self.app = Starlette(routes=[
            Route("/v1/realtime/client_secrets", self._client_secrets, methods=["POST"]),
            Route("/v1/realtime/calls", self._calls, methods=["POST"]),
            Route("/v1/realtime/calls/{call_id}/hangup", self._hangup, methods=["POST"]),
            Route("/v1/realtime/calls/{call_id}/{action:str}", self._sip_only, methods=["POST"]),
            WebSocketRoute("/v1/realtime", self._websocket),
            Route("/v1/realtime/sessions", self._beta_sessions, methods=["POST"]),
            Route("/v1/realtime/transcription_sessions", self._beta_sessions, methods=["POST"]),
            Route("/v1/audio/speech", self._audio_speech, methods=["POST"]),
        ], exception_handlers={ClientDisconnect: _client_gone})

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("the server is not started")
        host = self.config.host if ":" not in self.config.host else f"[{self.config.host}]"
        return f"http://{host}:{self._port}"

    @property
    def recognizer_name(self) -> str | None:
        """What recognises speech (``whisper tiny.en (bundled)``, ...), None when speech is only described."""
        recognizer = self._speech.recognizer if self._speech is not None else None
        return recognizer.name if recognizer is not None else None

    @property
    def speech_enabled(self) -> bool:
        """True when both recognition and synthesis are real (the ``local`` extra is installed)."""
        return bool(self._speech and self._speech.recognizer and self._speech.synthesizer)

    async def start(self) -> None:
        """Bind, load speech (once per process, in a thread) and serve in the current loop."""
        if self._serve_task is not None:
            return
        sock = bind_listener(self.config.host, self.config.port, service="local Realtime server")
        self._socket = sock
        self._port = sock.getsockname()[1]
        try:
            self._speech = await SpeechEngines.get(self.config.speech, self.config.recognizer_settings())
        except BaseException:  # a damaged Whisper model is refused: nothing is left bound
            sock.close()
            self._socket = self._port = None
            raise
        await asyncio.to_thread(MODELS.warm_up)  # the first call's VAD must not stall the loop loading its model
        uv_config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False,
                                   timeout_graceful_shutdown=2)
        self._uvicorn = _EmbeddedUvicorn(uv_config)
        self._serve_task = asyncio.get_running_loop().create_task(self._uvicorn.serve(sockets=[sock]))
        while not self._uvicorn.started:
            if self._serve_task.done():
                self._serve_task.result()
                raise VoxflowError("The local Realtime server stopped while starting.")
            await asyncio.sleep(0.01)
        logger.info("local Realtime server listening on %s", self.base_url)

    async def stop(self) -> None:
        """Hang up every call, then stop the HTTP server.

        The caller's own cancellation is not swallowed: it propagates, and the
        server is left mid-shutdown, so a later ``stop()`` finishes the job.
        """
        await asyncio.gather(*(call.close("server stopping") for call in list(self.calls.values())),
                             return_exceptions=True)
        serve_task = self._serve_task
        if self._uvicorn is not None and serve_task is not None:
            self._uvicorn.should_exit = True
            await asyncio.wait({serve_task})
            if not serve_task.cancelled() and serve_task.exception() is not None:
                logger.warning("the local Realtime server stopped with %r", serve_task.exception())
        if self._socket is not None:
            self._socket.close()
        self._uvicorn = self._serve_task = self._socket = None

    async def __aenter__(self) -> LocalRealtimeServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def serving(self) -> bool:
        """The HTTP server is up (between :meth:`start` and :meth:`stop`)."""
        return self._uvicorn is not None and self._uvicorn.started and not self._uvicorn.should_exit

    def _new_call(self, call_id: str, session: dict[str, Any], make_link: Callable[[Call], Any]) -> Call:
        assert self._speech is not None
        call = Call(call_id, session, self.config, self._speech, self._call_closed, make_link,
                    on_recognized=lambda took, audio: self.events.publish(TurnRecognized(took, audio)))
        self.calls[call.id] = call
        self.events.publish(CallOpened(call.id, call.link.kind))
        return call

    def _call_closed(self, call: Call) -> None:
        self.events.publish(CallClosed(call.id, call.link.kind, call.close_reason or "closed"))
        self.calls.pop(call.id, None)
        self.ended_calls[call.id] = call
        while len(self.ended_calls) > 100:
            self.ended_calls.pop(next(iter(self.ended_calls)))

    # -- routes ------------------------------------------------------------------------
    def _check_api_key(self, request: HTTPConnection) -> JSONResponse | None:
        if request.headers.get(BETA_HEADER, "").strip().lower().startswith("realtime"):
            return _beta_refused()
        expected = self.config.api_key
        if expected is None:
            return None
        given = _bearer(request)
        if given is None or not same_secret(given, expected):
            return _error(401, "invalid_api_key", "Incorrect API key provided.")
        return None

    def _busy(self) -> JSONResponse | None:
        """The busy fault: 503 "slots in use" (with Retry-After if configured) for the next connects."""
        faults = self.config.faults
        if faults.busy_connects <= 0:
            return None
        faults.busy_connects -= 1
        headers = {"Retry-After": f"{faults.busy_retry_after:g}"} if faults.busy_retry_after is not None else None
        return JSONResponse(error_body("slots_in_use", "All session slots are in use; try again shortly.",
                                       type="server_error"), status_code=503, headers=headers)

    async def _client_secrets(self, request: Request) -> Response:
        if self.config.faults.no_client_secrets:
            return _error(404, "not_found", "Unknown endpoint: POST /v1/realtime/client_secrets.")
        refused = self._check_api_key(request)
        if refused is not None:
            return refused
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return _error(400, "invalid_json", "We could not parse the JSON body of your request.")
        if not isinstance(body, dict):
            return _error(400, "invalid_type", "The request body must be a JSON object.")
        unknown = sorted(body.keys() - {"expires_after", "session"})
        if unknown:
            return _error(400, "unknown_parameter", f"Unknown parameter: '{unknown[0]}'.", param=unknown[0])
        seconds = DEFAULT_SECRET_SECONDS
        expires_after = body.get("expires_after")
        if expires_after is not None:
            if not isinstance(expires_after, dict) or expires_after.get("anchor", "created_at") != "created_at":
                return _error(400, "invalid_value", "Invalid value for 'expires_after': expected"
                              " {\"anchor\": \"created_at\", \"seconds\": N}.", param="expires_after")
            raw = expires_after.get("seconds", DEFAULT_SECRET_SECONDS)
            if isinstance(raw, bool) or not isinstance(raw, int) or not MIN_SECRET_SECONDS <= raw <= MAX_SECRET_SECONDS:
                return _error(400, "invalid_value", f"Invalid value for 'expires_after.seconds': expected an integer"
                              f" between {MIN_SECRET_SECONDS} and {MAX_SECRET_SECONDS}.", param="expires_after.seconds")
            seconds = raw
        raw_session = body.get("session")
        kind = raw_session.get("type") if isinstance(raw_session, dict) else None
        session = default_session(int(self.config.clock.time() + self.config.max_session_seconds),
                                  "transcription" if kind == "transcription" else "realtime")
        if raw_session is not None:
            try:
                session = merge(session, parse_update(body["session"]))
            except ConfigError as error:
                return _error(400, error.code, error.message, param=error.param)
        refused = self._check_transcription(session)
        if refused is not None:
            return refused
        key = self._keys.mint(seconds, session)
        return JSONResponse({"value": key.value, "expires_at": int(key.expires_at), "session": secret_session(session)})

    async def _audio_speech(self, request: Request) -> Response:
        """Text to speech with eSpeak, in OpenAI's shape (``text_to_speech.py``); the same key as every route."""
        refused = self._check_api_key(request)
        if refused is not None:
            return refused
        assert self._speech is not None
        return await speech_response(await request.body(), self._speech)

    async def _calls(self, request: Request) -> Response:
        if request.headers.get(BETA_HEADER, "").strip().lower().startswith("realtime"):
            return _beta_refused()
        session = self._session_for(request)
        if isinstance(session, JSONResponse):
            return session
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        raw = await request.body()
        if len(raw) > MAX_SDP_BYTES:
            return _error(413, "request_too_large", "The SDP offer is too large.")
        busy = self._busy()
        if busy is not None:
            return busy
        if content_type == "multipart/form-data":
            if self.config.faults.refuse_call_form is not None:
                status = self.config.faults.refuse_call_form
                return _error(status, "unsupported_content_type", f"Injected fault: the multipart form is answered"
                              f" with status {status}; send 'application/sdp' with an ephemeral key.")
            parsed = await self._multipart_offer(request, session)
            if isinstance(parsed, JSONResponse):
                return parsed
            offer, session = parsed
        elif content_type == "application/sdp":
            offer = raw.decode("utf-8", "replace")
        else:
            return _error(415, "unsupported_content_type", "Send the SDP offer as 'application/sdp'"
                          " (or multipart/form-data with 'sdp' and 'session' parts with a standard key).")
        if not offer.lstrip().startswith("v=0"):
            return _error(400, "invalid_offer", "The request body is not an SDP offer.")
        refused = self._check_transcription(session)
        if refused is not None:
            return refused
        faults = self.config.faults
        if faults.answer_delay_seconds > 0:
            await asyncio.sleep(faults.answer_delay_seconds)
        if faults.sdp_error_status is not None:
            return _error(faults.sdp_error_status, "injected_fault",
                          f"Injected fault: the offer is answered with status {faults.sdp_error_status}.",
                          type="server_error")
        call_id = new_id("rtc")
        if faults.garbage_sdp:
            return Response("this is not an SDP answer\r\n", status_code=201, media_type="application/sdp",
                            headers={"Location": f"/v1/realtime/calls/{call_id}"})
        assert self._speech is not None
        links: list[WebRtcLink] = []

        def make_link(call: Call) -> WebRtcLink:
            links.append(WebRtcLink(call.id, call.outbox, self.config.output_rate,
                                    self.config.reply == "echo-audio", call.spawn,
                                    playback_events=self.config.playback_events))
            return links[0]

        call = self._new_call(call_id, session, make_link)
        try:
            answer = await links[0].answer(offer)
        except Exception as error:
            logger.warning("call %s: could not answer the offer (%s)", call_id, type(error).__name__)
            await call.close("bad offer")
            return _error(400, "invalid_offer", "The SDP offer could not be negotiated.")
        return Response(answer, status_code=201, media_type="application/sdp",
                        headers={"Location": f"/v1/realtime/calls/{call_id}"})

    def _check_transcription(self, session: dict[str, Any]) -> JSONResponse | None:
        """The service's refusal of an unknown transcription model, and ours of a language the model cannot hear."""
        recognizer = self._speech.recognizer if self._speech is not None else None
        try:
            check_transcription(session, multilingual=recognizer.multilingual if recognizer else None,
                                recognizer=recognizer.name if recognizer else "none")
        except ConfigError as error:
            return _error(400, error.code, error.message, param=error.param)
        return None

    def _session_for(self, request: HTTPConnection) -> dict[str, Any] | JSONResponse:
        """The session config a call starts with, from its ephemeral key (or a standard key)."""
        token = _bearer(request)
        fresh = default_session(int(self.config.clock.time() + self.config.max_session_seconds))
        if token is not None and token.startswith("ek_"):
            key = self._keys.valid(token)
            if key is None:
                return _error(401, "invalid_api_key", "The ephemeral key is unknown or has expired;"
                              " mint a new one with /v1/realtime/client_secrets.")
            return merge(key.session, {"id": new_id("sess"), "expires_at": fresh["expires_at"]})
        refused = self._check_api_key(request)
        return refused if refused is not None else fresh

    async def _multipart_offer(self, request: Request,
                               session: dict[str, Any]) -> tuple[str, dict[str, Any]] | JSONResponse:
        """The standard-key shape: parts ``sdp`` (the offer) and ``session`` (JSON), parsed with the stdlib."""
        parts = _form_parts(request.headers.get("content-type", ""), await request.body())
        if "sdp" not in parts:
            return _error(400, "missing_required_parameter", "Missing required parameter: 'sdp'.", param="sdp")
        offer = parts["sdp"].decode("utf-8", "replace")
        if "session" in parts:
            try:
                session = merge(session, parse_update(json.loads(parts["session"])))
            except ValueError:
                return _error(400, "invalid_json", "The 'session' part is not valid JSON.", param="session")
            except ConfigError as error:
                return _error(400, error.code, error.message, param=error.param)
        return offer, session

    async def _hangup(self, request: Request) -> Response:
        refused = self._check_api_key(request)
        if refused is not None:
            return refused
        call = self.calls.get(request.path_params["call_id"])
        if call is None:
            return _error(404, "call_not_found", "No live call with that id.")
        await call.close("hangup")
        return JSONResponse({})

    async def _sip_only(self, request: Request) -> Response:
        """accept / reject / refer act on SIP calls, which the local server never has: the service's JSON errors."""
        refused = self._check_api_key(request)
        if refused is not None:
            return refused
        action = request.path_params["action"]
        if action not in ("accept", "reject", "refer"):
            return _error(404, "not_found", f"Unknown endpoint: POST /v1/realtime/calls/{{call_id}}/{action}.")
        call_id = request.path_params["call_id"]
        if call_id in self.calls:
            return _error(400, "invalid_request", f"Call '{call_id}' is a WebRTC call; '{action}' applies only to"
                          " incoming SIP calls.")
        return _error(404, "call_not_found", f"No incoming SIP call with id '{call_id}'.", param="call_id")

    async def _websocket(self, websocket: WebSocket) -> None:
        """``GET /v1/realtime?model=...`` upgraded to a WebSocket, authorised like ``/v1/realtime/calls``."""
        session = self._session_for(websocket)
        query = websocket.query_params
        if not isinstance(session, JSONResponse) and "call_id" in query:
            session = _error(400, "unsupported_parameter", "The local server does not join calls over a WebSocket"
                             " ('call_id'); connect with '?model=...' for a session of its own.", param="call_id")
        if not isinstance(session, JSONResponse):
            session = self._busy() or session
        if isinstance(session, JSONResponse):
            await websocket.send_denial_response(session)
            return
        if not (_bearer(websocket) or "").startswith("ek_"):  # a standard key: the URL chooses the session
            if query.get("intent") == "transcription":
                session = default_session(int(session["expires_at"]), "transcription")
            elif query.get("model"):
                session["model"] = query["model"]
        await websocket.accept()
        assert self._speech is not None
        links: list[WebSocketLink] = []

        def make_link(call: Call) -> WebSocketLink:
            links.append(WebSocketLink(websocket, call.outbox,
                                       lambda: (call.session["audio"].get("output") or {}).get("format"),
                                       burst=self.config.websocket_burst))
            return links[0]

        call = self._new_call(new_id("rtc"), session, make_link)
        await links[0].serve()

    async def _beta_sessions(self, request: Request) -> Response:
        return _beta_refused()


async def _client_gone(_request: Request, _error: Exception) -> Response:
    """A client that hung up mid-request (a run cancelled by Ctrl-C): nobody is left to answer, and nothing failed."""
    logger.debug("a client disconnected before its request body arrived")
    return Response(status_code=499)
