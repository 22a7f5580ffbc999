"""The nginx log_format compiler, the named formats and the source registry."""

from __future__ import annotations

import pytest

from scraperwatch.errors import LogFormatError
from scraperwatch.sources import CANDIDATES, SourceName, source_for
from scraperwatch.sources.caddy import CaddySource
from scraperwatch.sources.logformat import NAMED_FORMATS, Escape, compile_format
from scraperwatch.sources.nginx import NginxSource


@pytest.mark.parametrize("member", list(SourceName), ids=str)
def test_every_source_name_resolves(member: SourceName) -> None:
    """Each --log-format name is a source (pip-audit's exhaustiveness test)."""
    if member is SourceName.AUTO:
        assert member.value not in CANDIDATES
        return
    src = source_for(member.value)
    assert isinstance(src, CaddySource if member is SourceName.CADDY else NginxSource)
    assert src.label in (member.value, f"nginx-{member.value}")


@pytest.mark.parametrize("name", sorted(NAMED_FORMATS))
def test_named_formats_split_on_quotes(name: str) -> None:
    fmt = compile_format(name)
    assert fmt.name == name
    assert fmt.quote_split, "every named format is read by splitting on quotes"


@pytest.mark.parametrize(
    ("text", "escape", "variables"),
    [
        ("combined", Escape.DEFAULT, None),
        (
            "log_format main '$remote_addr [$time_local] '\n  '\"$request\" $status';",
            Escape.DEFAULT,
            ("remote_addr", "time_local", "request", "status"),
        ),
        (
            "log_format x escape=none '$remote_addr [$time_local] \"$request\" $status';",
            Escape.NONE,
            ("remote_addr", "time_local", "request", "status"),
        ),
        (
            '"$http_x_forwarded_for" $remote_addr [$time_local] "$request"',  # a bare format
            Escape.DEFAULT,
            ("http_x_forwarded_for", "remote_addr", "time_local", "request"),
        ),
        (
            "${remote_addr} [${time_local}] $STATUS",
            Escape.DEFAULT,
            ("remote_addr", "time_local", "status"),
        ),
        (
            'log_format j escape=json \'{"a":"$remote_addr","t":$msec,"x":"lit"}\';',
            Escape.JSON,
            ("remote_addr", "msec"),
        ),
    ],
    ids=["named", "conf-pieces", "escape-none", "starts-with-quote", "braces-and-case", "json"],
)
def test_compile(text: str, escape: Escape, variables: tuple[str, ...] | None) -> None:
    fmt = compile_format(text)
    assert fmt.escape is escape
    if variables is not None:
        assert fmt.variables == variables


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('$remote_addr "$request" $status', "has no time variable"),
        ("[$time_local] $status", "has no client address"),
        ("nothing here", "names no nginx variable"),
        ("$remote_addr$remote_user [$time_local]", "stand next to each other"),
        ('escape=json {"a": 1}', "names no nginx variable"),
        ('escape=json {"a": "$remote_addr"}', "has no time variable"),
    ],
)
def test_bad_formats_say_how_to_fix(text: str, message: str) -> None:
    with pytest.raises(LogFormatError, match=message):
        compile_format(text)


def test_client_chosen_values_are_matched_lazily() -> None:
    """Variables a client controls may hold spaces; in an unquoted stretch they must not end at
    the first space (remote_user, headers, cookies, arguments)."""
    seg = compile_format("combined").segments[0]
    assert "(?P<remote_user>.*?)" in seg.regex()
    seg = compile_format("$remote_addr $cookie_id [$time_local] $status").segments[0]
    assert "(?P<cookie_id>.*?)" in seg.regex()
    assert "(?P<remote_addr>[^ ]*)" in seg.regex()
