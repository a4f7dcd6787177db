"""The WebRTC transport: one aiortc peer connection, the ``oai-events`` channel, the SDP handshake.

Order matters (docs/PROTOCOL.md §2): the data channel and the single audio
transceiver exist *before* ``createOffer()`` (the service does not
renegotiate); the *complete* offer (``pc.localDescription.sdp``, candidates
gathered) is POSTed with the ``ek_`` key, or, with the user's standard key,
as one multipart request that carries the session too (minting a secret first
only when the service refuses that form); the status is checked before the
answer reaches ``setRemoteDescription``. It implements
:class:`~audio.transports.transport.RealtimeTransport`: it reports messages,
state changes and its end through callbacks, drains the remote audio track into
the playback sink, and the session decides what everything means. Once the
event channel is open a :mod:`~audio.transports.liveness` watch listens for
the service: any datagram counts (the service's RTP, its RTCP, the answer to
an SCTP heartbeat the watch sends when it has been quiet for a second), and
2.5 s of nothing ends the connection at once instead of after ICE consent's 30 s.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)

from audio.base.clock import Clock, SystemClock
from audio.base.errors import VoxflowError
from audio.transports.adaptive_receive import AdaptiveReceive
from audio.transports.adaptive_receive import attach as attach_receive
from audio.transports.liveness import LinkLost, LinkWatch, watch_link
from audio.transports.sctp_heartbeat import check_internals as check_sctp
from audio.transports.sctp_heartbeat import send_heartbeat
from audio.transports.secrets import EphemeralSecret, StandardKey
from audio.transports.service_http import post, refusal_detail, service_refusal
from audio.transports.tracks import SourceTrack, TrackPump
from audio.transports.transport import AudioPaths, LinkStats, TransportCallbacks
from audio.wire import protocol

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "oai-events"
FORM_REFUSED = frozenset({404, 405, 406, 415, 501})
"""Answers to the multipart ``/calls`` form that mean "not this form here": mint a client secret and post the SDP."""


HEARD = "no RTP, RTCP or SCTP heartbeat answer"
"""What the link watch listens for over WebRTC (its close reason names it)."""


async def packets_received(pc: RTCPeerConnection) -> int:
    """Datagrams that reached the connection's DTLS transport from the peer: RTP, RTCP and SCTP alike.

    ``RTCTransportStats.packetsReceived`` of the W3C statistics (``getStats``);
    the service's media and data share one bundled transport.
    """
    stats = (await pc.getStats()).values()
    return sum(int(getattr(s, "packetsReceived", 0) or 0) for s in stats if getattr(s, "type", None) == "transport")


async def ask_peer(pc: RTCPeerConnection) -> None:
    """The link watch's question: an SCTP heartbeat, whose answer :func:`packets_received` counts."""
    if pc.sctp is not None:
        await send_heartbeat(pc.sctp)


class TransportClosed(VoxflowError):
    """Sending on a channel that is not open."""


DEFAULT_MAX_MESSAGE_SIZE = 65_536
"""A data channel message may be this large when the answer names no ``max-message-size`` (RFC 8841)."""


def max_message_size(sdp: str) -> int | None:
    """The peer's ``a=max-message-size`` (None: 0, no limit), or the RFC's default when it names none."""
    match = re.search(r"^a=max-message-size:(\d+)\s*$", sdp, re.MULTILINE)
    if match is None:
        return DEFAULT_MAX_MESSAGE_SIZE
    size = int(match.group(1))
    return size or None


class WebRtcTransport:
    """Owns the peer connection and the receive pump; ``close()`` releases everything it created."""

    name = "WebRTC"
    server_playback = True

    def __init__(
        self,
        base_url: str,
        callbacks: TransportCallbacks,
        *,
        ice_servers: tuple[str, ...] = (),
        http_timeout: float = 15.0,
        clock: Clock | None = None,
    ) -> None:
        self._base_url = base_url
        self._ice_servers = ice_servers
        self._on_message = callbacks.on_message
        self._on_state = callbacks.on_state
        self._on_closed = callbacks.on_closed
        self._http_timeout = http_timeout
        self._clock: Clock = clock or SystemClock()  # network time: never the session's (a test's fake clock)
        self.watch: LinkWatch | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self.pc: RTCPeerConnection | None = None
        self.channel: Any = None
        self.call_id: str | None = None
        self.pump: TrackPump | None = None
        self.receive: AdaptiveReceive | None = None  # None: aiortc's stock receive path
        self._sender: Any = None  # the audio sender, when this connection sends (a track now or later)
        self._opened: asyncio.Event = asyncio.Event()
        self._closing = False
        self._ended = False
        self.appends_input = False
        self.max_event_bytes: int | None = DEFAULT_MAX_MESSAGE_SIZE  # until the answer says otherwise

    # --- state --------------------------------------------------------------------
    @property
    def ice_state(self) -> str:
        return self.pc.iceConnectionState if self.pc is not None else "new"

    @property
    def channel_state(self) -> str:
        return self.channel.readyState if self.channel is not None else "closed"

    @property
    def is_open(self) -> bool:
        return self.channel is not None and self.channel.readyState == "open"

    def _report_state(self) -> None:
        self._on_state(self.ice_state, self.channel_state)

    def _end(self, reason: str, error: bool) -> None:
        """Report the end once, unless we are the ones closing."""
        if self._closing or self._ended:
            return
        self._ended = True
        self._on_closed(reason, error)

    # --- opening --------------------------------------------------------------------
    async def open(self, secret: EphemeralSecret, audio: AudioPaths) -> str:
        """Create pc + channel + transceiver, do the handshake; returns the call id.

        The data channel may still be connecting when this returns: await
        :meth:`wait_open` before sending.
        """
        self.pc = pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[RTCIceServer(urls=url) for url in self._ice_servers])
        )
        self.channel = channel = pc.createDataChannel(EVENTS_CHANNEL)
        check_sctp(pc.sctp)
        if audio.send is not None or audio.send_later:
            transceiver = pc.addTransceiver(audio.send or "audio", direction="sendrecv")
            self._sender = transceiver.sender
        else:
            transceiver = pc.addTransceiver("audio", direction="recvonly")
        self.receive = attach_receive(transceiver.receiver)

        @channel.on("open")
        def _opened() -> None:
            self._opened.set()
            self._report_state()
            self._start_watch()

        @channel.on("close")
        def _closed() -> None:
            self._report_state()
            self._end("the service closed the event channel", error=False)

        @channel.on("message")
        def _message(message: str | bytes) -> None:
            self._on_message(message)

        @pc.on("track")
        def _track(track: MediaStreamTrack) -> None:
            if track.kind == "audio" and self.pump is None and not self._closing:
                self.pump = TrackPump(
                    track, audio.receive, sample_rate=audio.receive_rate, channels=audio.receive_channels,
                    on_frame=audio.on_received,
                )
                self.pump.start()

        @pc.on("iceconnectionstatechange")
        def _ice() -> None:
            self._report_state()
            if pc.iceConnectionState == "failed":
                self._end("ICE connection failed (no network path to the service)", error=True)

        @pc.on("connectionstatechange")
        def _connection() -> None:
            self._report_state()
            if pc.connectionState == "failed":
                self._end("the WebRTC connection failed", error=True)

        offer = await pc.createOffer()
        await pc.setLocalDescription(offer)
        answer_sdp, call_id = await self._post_offer(secret, pc.localDescription.sdp)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
        except Exception as exc:  # aiortc raises ValueError & co. for anything unparsable
            raise VoxflowError(
                f"the Realtime service answered with an SDP that cannot be used ({type(exc).__name__})",
                hint="Check OPENAI_BASE_URL points at a Realtime service.",
            ) from None
        self.call_id = call_id
        self.max_event_bytes = max_message_size(answer_sdp)
        self._report_state()
        return call_id

    async def _post_offer(self, secret: EphemeralSecret, offer_sdp: str) -> tuple[str, str]:
        """POST the offer; with a :class:`StandardKey` as one multipart request, minting a secret only if refused."""
        url = f"{self._base_url}/v1/realtime/calls"
        if isinstance(secret, StandardKey):
            form = {"sdp": (None, offer_sdp, "application/sdp"),
                    "session": (None, json.dumps(secret.session), "application/json")}
            response = await self._post(url, secret, files=form)
            if response.status_code not in FORM_REFUSED or secret.exchange is None:
                log.info("WebRTC call created in one request (multipart sdp + session, standard key): %d",
                         response.status_code)
                return self._answer(response, secret)
            log.info("the service refused the one-request call (%d): minting a client secret first",
                     response.status_code)
            minted = await secret.exchange()
            response = await self._post(url, minted, content=offer_sdp.encode(), headers={"Content-Type": "application/sdp"})
            return self._answer(response, minted, secret)
        response = await self._post(url, secret, content=offer_sdp.encode(), headers={"Content-Type": "application/sdp"})
        return self._answer(response, secret)

    async def _post(self, url: str, secret: EphemeralSecret, *, headers: dict[str, str] | None = None,
                    **request: Any) -> Any:
        return await post(
            url, service="Realtime service", hint="Check your network or OPENAI_BASE_URL.", timeout=self._http_timeout,
            headers={"Authorization": f"Bearer {secret.value}", **(headers or {})}, **request,
        )

    @staticmethod
    def _answer(response: Any, *secrets: EphemeralSecret) -> tuple[str, str]:
        """The SDP answer and the call id of a 2xx answer; a VoxflowError (no secret in it) otherwise."""
        if response.status_code // 100 != 2:
            hint = (
                "The session key was refused: check OPENAI_API_KEY or the token service."
                if response.status_code in (401, 403)
                else "Try again; if it keeps failing, check the service status."
            )
            raise service_refusal(
                f"the Realtime service refused the call ({response.status_code}): {refusal_detail(response, *(secret.value for secret in secrets))}",
                response, hint=hint,
            )
        location = response.headers.get("Location", "")
        call_id = location.rstrip("/").rsplit("/", 1)[-1] if location else ""
        return response.text, call_id or "unknown"

    # --- liveness -------------------------------------------------------------------
    def _start_watch(self) -> None:
        if self._closing or self._watch_task is not None or self.pc is None:
            return
        self.watch = LinkWatch()
        self._watch_task = asyncio.get_running_loop().create_task(
            watch_link(self.watch, clock=self._clock, signal=HEARD, probe=self._probe, lost=self._lost,
                       count=self._packets_received),
            name="voxflow-realtime-link-watch",
        )

    async def _packets_received(self) -> int:
        return await packets_received(self.pc) if self.pc is not None else 0

    async def _probe(self) -> None:
        if self.pc is not None and not self._closing:
            await ask_peer(self.pc)

    def _lost(self, found: LinkLost) -> None:
        self._on_state("lost", self.channel_state)  # the panel's link row, until the session tears down
        self._end(found.reason, error=True)

    async def link_stats(self) -> LinkStats:
        """RTT from RTCP (the remote end's receiver reports on our audio) and our receive jitter buffer."""
        rtt: float | None = None
        if self.pc is not None:
            try:
                values = list((await self.pc.getStats()).values())
            except Exception:  # a closing connection
                values = []
            for stats in values:
                if getattr(stats, "type", None) == "remote-inbound-rtp" and getattr(stats, "roundTripTime", None) is not None:
                    rtt = float(stats.roundTripTime) * 1000
        receive = self.receive
        if receive is None:
            return LinkStats(rtt_ms=rtt)
        return LinkStats(rtt_ms=None if rtt is None else round(rtt, 1), jitter_buffer_ms=receive.stats.depth_ms,
                         jitter_target_ms=receive.stats.target_ms, concealed_frames=receive.stats.concealed)

    async def wait_open(self) -> None:
        await self._opened.wait()

    # --- using ---------------------------------------------------------------------
    def send(self, event: dict[str, Any]) -> None:
        """Send one client event; only after the channel opened."""
        if not self.is_open:
            raise TransportClosed("the session is not connected: connect first")
        self.channel.send(protocol.encode(event))

    def move_send(self, track: SourceTrack | None) -> None:
        """Swap the sender's track (``replaceTrack``: no renegotiation); None keeps the call up, silent.

        aiortc stops a sender's track when the sender ends, so a track moved
        away is no longer this connection's to stop.
        """
        if self._sender is not None:
            self._sender.replaceTrack(track)

    async def close(self) -> None:
        """Close channel and peer connection (idempotent, never raises)."""
        self._closing = True
        watch, self._watch_task = self._watch_task, None
        if watch is not None:
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)
        pump, self.pump = self.pump, None
        if pump is not None:
            try:
                await pump.stop()
            except Exception:
                log.debug("stopping the receive pump failed", exc_info=True)
        pc, self.pc = self.pc, None
        channel, self.channel = self.channel, None
        if channel is not None:
            try:
                channel.close()
            except Exception:  # already closed by the peer
                log.debug("closing the event channel failed", exc_info=True)
        if pc is not None:
            try:
                await pc.close()
            except Exception:
                log.debug("closing the peer connection failed", exc_info=True)

