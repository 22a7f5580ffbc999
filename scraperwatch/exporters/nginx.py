"""Export stage: nginx includes, a `deny` list and a `geo` + `map` variant."""

from __future__ import annotations

from typing import ClassVar, Final

import polars as pl

from scraperwatch.exporters.addresses import network_text, plan_addresses
from scraperwatch.exporters.base import Exporter, ExportOptions, NginxContext, header
from scraperwatch.exporters.tokens import clean_tokens, token_regex

# Every variable is namespaced: bad-bot blockers that use $bad_bot or $block clash with
# other includes (see docs/export.md).
BLOCK_VAR: Final = "$scraperwatch_block"
ADDR_VAR: Final = "$scraperwatch_block_addr"
UA_VAR: Final = "$scraperwatch_block_ua"
SERVER_UA_VAR: Final = "$scraperwatch_ua_block"


def nginx_check_snippet(status: int = 403) -> str:
    """The line that goes in each server block using the `nginx-map` include."""
    return f"if ({BLOCK_VAR}) {{ return {status}; }}\n"


def _token_counts(tokens: tuple[str, ...], note: str = "") -> str:
    return f"user-agent tokens: {len(tokens)}{note}"


class NginxDenyExporter(Exporter):
    """`deny` lines for http, server or location context; user-agent checks where `if` works."""

    name: ClassVar[str] = "nginx"

    def render(self, offenders: pl.DataFrame, *, options: ExportOptions) -> str:
        plan = plan_addresses(offenders, options)
        context = NginxContext(options.context)
        tokens = clean_tokens(options.agent_tokens, what="user-agent token")
        ua_allowed = context is not NginxContext.HTTP
        usage = [
            f"Include in the {context.value} context: include /etc/nginx/scraperwatch.conf;",
            "deny answers 403 on every path; to keep /robots.txt readable for blocked",
            "addresses, add to the same server: location = /robots.txt { allow all; }",
        ]
        if not ua_allowed and tokens:
            usage.append(
                "User agents cannot be checked in the http context (no `if` there): "
                "use the nginx-map format or the server context for them."
            )
        note = "" if ua_allowed or not tokens else " (not blockable in the http context)"
        text = header(
            options,
            title=f"nginx deny list for the {context.value} context",
            counts=[*plan.counts(options), _token_counts(tokens, note)],
            usage=usage,
        )
        body = [f"deny {network_text(net)};" for net in plan.networks]
        if ua_allowed and tokens:
            body += ["", f"set {SERVER_UA_VAR} 0;"]
            body += [
                f'if ($http_user_agent ~* "{token_regex(t)}") {{ set {SERVER_UA_VAR} 1; }}'
                for t in tokens
            ]
            body += [
                # Crawlers must still be able to read that they are unwelcome.
                f"if ($uri = /robots.txt) {{ set {SERVER_UA_VAR} 0; }}",
                f"if ({SERVER_UA_VAR}) {{ return {options.status}; }}",
            ]
        if body:
            text += "\n" + "\n".join(body) + "\n"
        return text


class NginxMapExporter(Exporter):
    """`geo` (addresses) and `map` (user agents) for the http context, plus a check per server."""

    name: ClassVar[str] = "nginx-map"

    def render(self, offenders: pl.DataFrame, *, options: ExportOptions) -> str:
        plan = plan_addresses(offenders, options)
        tokens = clean_tokens(options.agent_tokens, what="user-agent token")
        check = nginx_check_snippet(options.status).strip()
        text = header(
            options,
            title="nginx geo and map variables for the http context",
            counts=[*plan.counts(options), _token_counts(tokens)],
            usage=[
                "1. Include this file in the http block: include /etc/nginx/scraperwatch-map.conf;",
                "2. In each server block to protect, add this line:",
                f"       {check}",
                f"{BLOCK_VAR} is 1 for a blocked address or user agent, except on /robots.txt.",
            ],
        )
        lines = ["", f"geo {ADDR_VAR} {{", "    default 0;"]
        lines += [f"    {network_text(net)} 1;" for net in plan.networks]
        lines += ["}", "", f"map $http_user_agent {UA_VAR} {{", "    default 0;"]
        lines += [f'    "~*{token_regex(t)}" 1;' for t in tokens]
        lines += [
            "}",
            "",
            # Both flags, then the normalised URI: 0 unless a flag is set and the request
            # is not for /robots.txt. Regexes are tried in order; `default` is the fall-through.
            f'map "{ADDR_VAR}{UA_VAR}$uri" {BLOCK_VAR} {{',
            "    default 1;",
            '    "~^00" 0;',
            r'    "~^[01][01]/robots\.txt$" 0;',
            "}",
        ]
        return text + "\n".join(lines) + "\n"
