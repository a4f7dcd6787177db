"""What one session request does, free of HTTP: limits, token checks, key opening, minting.

:class:`TokenService` holds the store, keyring, limiter and upstream minter
and turns a validated request plus a client address into a minted secret or a
:class:`ServiceError` (status, actionable message, headers). Every
owner-funded attempt is written to the execution log, allowed or refused.
Log lines name owners, token ids and client addresses; never a key or token.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from audio.base.clock import Clock, SystemClock
from audio.base.pubsub import EventHub

from . import share_tokens
from .client_ip import IpAddress, rate_limit_key
from .config import ServiceSettings
from .crypto import SecretUnreadable
from .ratelimit import RateDecision, RateLimiter
from .schemas import SessionOptions, SessionResponse, SharedSessionRequest, UserKeySessionRequest
from .store import Execution, ShareToken, Store
from .upstream import SecretMinter, SessionConfig, UpstreamRefused, UpstreamTimeout

log = logging.getLogger("voxflow.token_service")
PROVIDER = "openai"

NO_OWNER_KEY = "flow owner has not configured an OpenAI API key; ask them to run: voxflow owner set-key NAME"


@dataclass
class ServiceError(Exception):
    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status}: {self.message}"


@dataclass(frozen=True)
class SessionOutcome:
    """How one session request ended (``TokenService.outcomes``): ``mode`` user or shared; ``outcome`` as in the
    execution log (``ok``, ``rate_limited_ip``, ``rate_limited_token``, ``unknown_token``, ``upstream_timeout``, ...)."""

    mode: str
    outcome: str


@dataclass(frozen=True)
class Minted:
    response: SessionResponse
    headers: dict[str, str]


def _tighter(a: RateDecision, b: RateDecision) -> RateDecision:
    return a if a.remaining <= b.remaining else b


def _session_config(request: SessionOptions) -> SessionConfig:
    return SessionConfig(
        model=request.model,
        voice=request.voice,
        instructions=request.instructions,
        turn_detection=request.turn_detection(),
        manual_turns=request.manual_turns,
        transcription_model=request.transcriptionModel,
        passthrough=request.ga_session(),
    )


class TokenService:
    """The session endpoint's logic; start it (or ``async with``) before use."""

    def __init__(
        self,
        store: Store,
        settings: ServiceSettings,
        *,
        clock: Clock | None = None,
        upstream_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock or SystemClock()
        self.limiter = RateLimiter(store, self.clock, limit=settings.sessions_per_minute)
        self.minter = SecretMinter(
            settings.openai_base_url,
            transport=upstream_transport,
            timeout=settings.upstream_timeout,
            ttl_seconds=settings.secret_ttl_seconds,
        )
        self._started = False
        self.outcomes: EventHub[SessionOutcome] = EventHub()  # one per request that reached the service (metrics)

    async def start(self) -> None:
        if not self._started:
            await self.store.open()
            self._started = True

    async def close(self) -> None:
        if self._started:
            self._started = False
            await self.minter.aclose()
            await self.store.close()

    async def __aenter__(self) -> TokenService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def create_session(
        self, request: UserKeySessionRequest | SharedSessionRequest, client: IpAddress | None
    ) -> Minted:
        """Raises ServiceError for every refusal; StoreUnavailable propagates (the caller answers 503)."""
        if isinstance(request, SharedSessionRequest):
            return await self._owner_funded(request, client)
        return await self._user_key(request, client)

    async def _user_key(self, request: UserKeySessionRequest, client: IpAddress | None) -> Minted:
        decision = await self.limiter.check("ip", rate_limit_key(client))
        if not decision.allowed:
            self.outcomes.publish(SessionOutcome("user", "rate_limited_ip"))
            log.info("session refused: mode=user reason=rate_limited_ip client=%s", client)
            raise ServiceError(429, "Too many sessions from your address; wait and retry after the Retry-After seconds.", decision.headers())
        try:
            minted = await self.minter.mint(request.apiKeys.openai, _session_config(request))
        except UpstreamTimeout:
            self.outcomes.publish(SessionOutcome("user", "upstream_timeout"))
            log.warning("session failed: mode=user reason=upstream_timeout client=%s", client)
            raise ServiceError(504, "OpenAI did not answer in time; try again in a moment.", decision.headers()) from None
        except UpstreamRefused as error:
            self.outcomes.publish(SessionOutcome("user", "upstream_refused"))
            log.warning("session failed: mode=user reason=upstream_refused status=%s code=%s client=%s", error.status, error.code, client)
            detail = f"HTTP {error.status}" if error.status else "unreachable"
            if error.code:
                detail += f", {error.code}"
            raise ServiceError(
                502, f"OpenAI refused to mint a session secret ({detail}); check your API key and its Realtime access.", decision.headers()
            ) from None
        self.outcomes.publish(SessionOutcome("user", "ok"))
        log.info("session minted: mode=user client=%s", client)
        return Minted(SessionResponse(clientSecret=minted.value, expiresAt=minted.expires_at), decision.headers())

    async def _owner_funded(self, request: SharedSessionRequest, client: IpAddress | None) -> Minted:
        token = await self.store.share_token_by_digest(share_tokens.digest(request.shareToken, self.settings.pepper))
        client_text = str(client) if client is not None else "unknown"

        async def record(outcome: str, upstream_status: int | None = None) -> None:
            self.outcomes.publish(SessionOutcome("shared", outcome))
            await self.store.log_execution(
                Execution(
                    at=self.clock.time(),
                    client_ip=client_text,
                    outcome=outcome,
                    owner_id=token.owner_id if token else None,
                    share_token_id=token.id if token else None,
                    run_id=request.runId,
                    upstream_status=upstream_status,
                )
            )
            log.info(
                "owner-funded session %s: owner=%s token=%s run=%s client=%s upstream=%s",
                outcome, token.owner_name if token else None, token.id if token else None, request.runId, client_text, upstream_status,
            )

        ip_decision = await self.limiter.check("ip", rate_limit_key(client))
        if not ip_decision.allowed:
            await record("rate_limited_ip")
            raise ServiceError(429, "Too many sessions from your address; wait and retry after the Retry-After seconds.", ip_decision.headers())
        if token is None:
            await record("unknown_token")
            raise ServiceError(401, "Unknown share token: check you copied all of it, or ask the flow owner for a new one.")
        if token.revoked:
            await record("revoked_token")
            raise ServiceError(403, "This share token was revoked by the flow owner; ask them for a new one.")
        token_decision = await self.limiter.check("share_token", token.id)
        if not token_decision.allowed:
            await record("rate_limited_token")
            raise ServiceError(429, "Too many sessions on this share token; wait and retry after the Retry-After seconds.", token_decision.headers())
        headers = _tighter(ip_decision, token_decision).headers()
        api_key = await self._owner_key(token, record)
        try:
            minted = await self.minter.mint(api_key, _session_config(request))
        except UpstreamTimeout:
            await record("upstream_timeout")
            raise ServiceError(504, "The realtime service did not answer in time; try again in a moment.", headers) from None
        except UpstreamRefused as error:
            await record("upstream_refused", error.status)
            raise ServiceError(502, "The realtime service refused the session; try again later or tell the flow owner.", headers) from None
        await record("ok", 200)
        return Minted(SessionResponse(clientSecret=minted.value, expiresAt=minted.expires_at), headers)

    async def _owner_key(self, token: ShareToken, record: Callable[..., Awaitable[None]]) -> str:
        sealed = await self.store.owner_key(token.owner_id, PROVIDER)
        if sealed is None:
            await record("no_owner_key")
            raise ServiceError(400, NO_OWNER_KEY)
        try:
            return self.settings.keyring.open(sealed, owner_id=token.owner_id, provider=PROVIDER)
        except SecretUnreadable as error:
            await record("owner_key_unreadable")
            log.error("owner key unreadable: owner=%s: %s", token.owner_name, error)
            raise ServiceError(503, "The service cannot read the flow owner's key right now; tell the flow owner or the service operator.") from None
