"""Export stage: a Caddyfile snippet with remote_ip and header_regexp matchers."""

from __future__ import annotations

from typing import ClassVar, Final

import polars as pl

from scraperwatch.exporters.addresses import network_text, plan_addresses
from scraperwatch.exporters.base import CLOSE_CONNECTION, Exporter, ExportOptions, header
from scraperwatch.exporters.tokens import clean_tokens, token_regex

SNIPPET: Final = "scraperwatch_block"
ADDR_MATCHER: Final = "@scraperwatch_blocked_addr"
UA_MATCHER: Final = "@scraperwatch_blocked_ua"
_PER_LINE: Final = 16  # remote_ip ranges per line; repeated remote_ip lines add up


class CaddyExporter(Exporter):
    """A named snippet `(scraperwatch_block)` to `import` at the top of a site block.

    Each matcher is wrapped in `handle`, not a bare `respond`: Caddy runs `handle` blocks
    before `respond`, so a bare `respond` would never run in a site built from `handle`
    blocks (Mastodon's usual Caddyfile). A `handle` with a named matcher sorts before the
    site's `handle` blocks that have a named matcher or none, when imported first.
    """

    name: ClassVar[str] = "caddy"

    def render(self, offenders: pl.DataFrame, *, options: ExportOptions) -> str:
        plan = plan_addresses(offenders, options)
        tokens = clean_tokens(options.agent_tokens, what="user-agent token")
        action = "abort" if options.status == CLOSE_CONNECTION else f"respond {options.status}"
        text = header(
            options,
            title="Caddyfile snippet",
            counts=[*plan.counts(options), f"user-agent tokens: {len(tokens)}"],
            usage=[
                "Import this file at the top of the Caddyfile, then import the snippet first",
                "in each site block to protect:",
                "    import /etc/caddy/scraperwatch.caddy",
                f"    example.org {{ import {SNIPPET} ... }}",
                "/robots.txt stays reachable. A site `handle /path/*` block (a path matcher)",
                "runs before this snippet's handle blocks: import the snippet inside it too.",
            ],
        )
        body = [f"({SNIPPET}) {{"]
        if plan.networks:
            texts = [network_text(n) for n in plan.networks]
            body += [f"\t{ADDR_MATCHER} {{", "\t\tnot path /robots.txt"]
            for i in range(0, len(texts), _PER_LINE):
                body.append("\t\tremote_ip " + " ".join(texts[i : i + _PER_LINE]))
            body += ["\t}", f"\thandle {ADDR_MATCHER} {{", f"\t\t{action}", "\t}"]
        if tokens:
            # RE2: (?i) for case, \b bounds; the units never hold a space, a quote or a brace.
            pattern = "(?i)(?:" + "|".join(token_regex(t) for t in tokens) + ")"
            body += [
                f"\t{UA_MATCHER} {{",
                "\t\tnot path /robots.txt",
                f"\t\theader_regexp User-Agent {pattern}",
                "\t}",
                f"\thandle {UA_MATCHER} {{",
                f"\t\t{action}",
                "\t}",
            ]
        body.append("}")
        return text + "\n" + "\n".join(body) + "\n"
