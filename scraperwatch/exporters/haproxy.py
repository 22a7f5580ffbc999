"""Export stage: HAProxy ACL files (addresses, user agents) and the frontend lines using them."""

from __future__ import annotations

from typing import ClassVar, Final

import polars as pl

from scraperwatch.errors import ExportError
from scraperwatch.exporters.addresses import network_text, plan_addresses
from scraperwatch.exporters.base import CLOSE_CONNECTION, Exporter, ExportOptions, header
from scraperwatch.exporters.tokens import clean_tokens, token_regex

ADDR_FILE: Final = "/etc/haproxy/scraperwatch-addr.acl"
UA_FILE: Final = "/etc/haproxy/scraperwatch-ua.acl"


def haproxy_frontend(
    addr_file: str = ADDR_FILE, ua_file: str = UA_FILE, *, status: int = 403
) -> str:
    """The lines for an HAProxy `frontend` (or `listen`) section that load the two ACL files.

    The file paths are the admin's own (from the configuration, never from a log); one with
    a space, a quote or a control character would break the line, so it is refused.
    """
    for path in (addr_file, ua_file):
        if not path or any(c.isspace() or c in "\"'#\\" or ord(c) < 32 for c in path):
            raise ExportError(
                f"HAProxy ACL file path {path!r} has a space, quote, '#' or control character: "
                "choose a plain path such as /etc/haproxy/scraperwatch-addr.acl"
            )
    if status == CLOSE_CONNECTION:
        act = "http-request reject"
    else:
        act = f"http-request deny deny_status {status}"
    return (
        "acl scraperwatch_robots path /robots.txt\n"
        f"acl scraperwatch_addr src -f {addr_file}\n"
        f"acl scraperwatch_ua hdr(user-agent) -i -m reg -f {ua_file}\n"
        f"{act} if scraperwatch_addr !scraperwatch_robots\n"
        f"{act} if scraperwatch_ua !scraperwatch_robots\n"
    )


def _usage(status: int) -> list[str]:
    return [
        "Add to the frontend (both files must exist; an empty one matches nothing):",
        *("    " + line for line in haproxy_frontend(status=status).splitlines()),
    ]


class HAProxyAddrExporter(Exporter):
    """The address ACL file, one address or CIDR per line, for `src -f`."""

    name: ClassVar[str] = "haproxy"

    def render(self, offenders: pl.DataFrame, *, options: ExportOptions) -> str:
        plan = plan_addresses(offenders, options)
        text = header(
            options,
            title=f"HAProxy address ACL file ({ADDR_FILE})",
            counts=plan.counts(options),
            usage=_usage(options.status),
        )
        return text + "".join(network_text(n) + "\n" for n in plan.networks)


class HAProxyUAExporter(Exporter):
    """The user-agent ACL file, one regex per line, for `hdr(user-agent) -i -m reg -f`."""

    name: ClassVar[str] = "haproxy-ua"

    def render(self, offenders: pl.DataFrame, *, options: ExportOptions) -> str:
        tokens = clean_tokens(options.agent_tokens, what="user-agent token")
        text = header(
            options,
            title=f"HAProxy user-agent ACL file ({UA_FILE})",
            counts=[f"user-agent tokens: {len(tokens)}"],
            usage=_usage(options.status),
        )
        return text + "".join(token_regex(t) + "\n" for t in tokens)
