"""Export stage: validate user-agent product tokens and write them as word-bounded regexes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

import polars as pl

from scraperwatch import schema
from scraperwatch.errors import ExportError

# A plain product token: letters, digits, '.', '_', '-', '/' and inner spaces, starting and
# ending with a letter or digit ("GPTBot", "meta-externalagent", "iaskspider/2.0",
# "Brightbot 1.0"). Nothing in it is special to nginx, Caddy or HAProxy configuration, and
# '.' and ' ' are the only characters that need escaping in a regex.
TOKEN_RE: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._/ -]{0,62}[A-Za-z0-9])?")


def is_token(text: object) -> bool:
    return isinstance(text, str) and TOKEN_RE.fullmatch(text) is not None and "  " not in text


def clean_tokens(tokens: Iterable[str], *, what: str) -> tuple[str, ...]:
    """Validated tokens, deduplicated case-insensitively and sorted; a bad one is an error.

    Tokens come from rule files, never from logs, so a bad one is a rule to fix, not data to
    skip: the export stops and the previous file stays in place.
    """
    seen: dict[str, str] = {}
    for token in tokens:
        if not is_token(token):
            raise ExportError(
                f"{what} {token!r} is not a plain product token: use letters, digits, '.', '_', "
                "'-', '/' and single inner spaces, starting and ending with a letter or digit "
                "(fix the rule that carries it)"
            )
        key = token.casefold()
        if key not in seen or token < seen[key]:
            seen[key] = token
    return tuple(sorted(seen.values(), key=lambda t: (t.casefold(), t)))


def token_regex(token: str) -> str:
    r"""The token as a word-bounded regex unit, the same text in PCRE, RE2 and PCRE2.

    `\b` means the same in the three dialects for the ASCII characters a token may hold, and
    matches the detection rules' `\bToken\b`. A space becomes `\x20` so that the pattern never
    needs quoting in a Caddyfile or an HAProxy file; case-insensitivity is added per dialect
    (nginx `~*`, Caddy `(?i)`, HAProxy `-i`).
    """
    if not is_token(token):  # clean_tokens ran before; this guards direct callers
        raise ExportError(f"user-agent token {token!r} is not a plain product token")
    return r"\b" + token.replace(".", r"\.").replace(" ", r"\x20") + r"\b"


_UNIT_RE: Final = re.compile(r"\\b((?:[A-Za-z0-9_/-]|\\\.|\\x20)+?)\\b")


def tokens_in_regex_text(text: str) -> set[str]:
    """The tokens written by token_regex in a text (used to diff an export with its file)."""
    return {m.group(1).replace(r"\.", ".").replace(r"\x20", " ") for m in _UNIT_RE.finditer(text)}


def blocked_agent_tokens(
    offenders: pl.DataFrame, *, categories: Iterable[schema.Category | str]
) -> tuple[str, ...]:
    """The tokens of the blocked offenders in the given categories, for ExportOptions.agent_tokens.

    The caller names the categories whose user agents are blocked everywhere (AI training,
    AI search, scraping tools...). Spoofed crawlers are never taken, whatever the caller
    asks: their token is the real crawler's (`Googlebot`). Tokens that are not plain product
    tokens are skipped here (the rule check reports them).
    """
    wanted = {str(c) for c in categories} - {schema.Category.SPOOFED_CRAWLER.value}
    if offenders.is_empty() or not wanted:
        return ()
    rows = offenders.filter(
        (pl.col(schema.ACTION) == schema.Action.BLOCK.value)
        & pl.col(schema.CATEGORY).is_in(sorted(wanted))
    )
    found = {
        t for ts in rows.get_column(schema.TOKENS).to_list() for t in (ts or []) if is_token(t)
    }
    return clean_tokens(found, what="user-agent token")
