"""Facts about this server an API client needs to fill in a form: the accepted time zones."""

import msgspec
from litestar import get

from coagent.domain.agents.schedule import time_zone_names


class TimeZoneList(msgspec.Struct, frozen=True):
    """The IANA time zone names a schedule's `timezone` accepts, sorted."""

    timezones: list[str]


@get(
    "/api/v1/meta/timezones",
    operation_id="list_timezones",
    tags=["meta"],
    summary="List the accepted time zones",
    description=(
        "Every IANA time zone name a schedule's `timezone` accepts (this server's time zone "
        "data), sorted. Public: no sign-in needed."
    ),
    sync_to_thread=False,
)
def list_timezones() -> TimeZoneList:
    return TimeZoneList(timezones=list(time_zone_names()))
