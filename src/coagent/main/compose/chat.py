"""The chat context: history, posting (HTTP and WebSocket), joining, socket tickets."""

from coagent.adapters.http.chat.services import ChatServices
from coagent.adapters.persistence.history_cache import InMemoryHistoryCache
from coagent.adapters.realtime.chat_session import ChatLimits
from coagent.application.limits import Rate
from coagent.main.compose.infra import Infrastructure, Realtime
from coagent.main.compose.wiring import assemble


def chat_services(infra: Infrastructure, realtime: Realtime) -> ChatServices:
    settings = infra.settings
    ports = {
        "uow": infra.uow,
        "publisher": realtime.hub,
        "clock": infra.clock,
        "ids": infra.ids,
        "max_length": settings.chat_max_message_length,
        "limiter": infra.rate_limiter,
        "rate": Rate(settings.chat_messages_per_window, settings.chat_window_seconds),
        "agents": infra.kicker,
        "cache": InMemoryHistoryCache(max_bytes=settings.chat_history_cache_mb * 1024 * 1024),
        "store": realtime.tickets,
        "ttl_seconds": settings.chat_ticket_ttl,
        "revocations": infra.revocations,
    }
    return assemble(
        ChatServices,
        ports,
        hub=realtime.hub,
        limits=ChatLimits(
            max_frame_bytes=settings.chat_max_frame_bytes,
            messages_per_window=settings.chat_messages_per_window,
            window_seconds=settings.chat_window_seconds,
            connections_per_user=settings.chat_max_connections_per_user,
            queue_size=settings.chat_socket_queue,
        ),
        allowed_origins=settings.allowed_origins,
    )
