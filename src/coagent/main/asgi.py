"""ASGI entry point for servers: `uvicorn --factory --no-proxy-headers coagent.main.asgi:create_app`
(the app reads proxy headers itself, from the peers in FORWARDED_ALLOW_IPS).
"""

from litestar import Litestar

from coagent.main.app import create_app as _create_app
from coagent.main.logging import configure_logging
from coagent.main.settings import load_settings


def create_app() -> Litestar:
    settings = load_settings()
    configure_logging(settings.log_level, json_output=settings.log_json)
    return _create_app(settings)
