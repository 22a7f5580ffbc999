"""Address planning: validation, and collapsing checked against aggregate6 and by coverage."""

from __future__ import annotations

import ipaddress

from aggregate6 import aggregate
from export_frames import frame, offender
from hypothesis import given, settings
from hypothesis import strategies as st

from scraperwatch.exporters import ExportOptions
from scraperwatch.exporters.addresses import network_text, parse_network, plan_addresses

NO_LIMITS = ExportOptions(max_prefix_v4=0, max_prefix_v6=0, allow_private=False)


def test_parse_network_refuses_what_is_not_exactly_an_address() -> None:
    for text in (
        "fe80::1%eth0",
        "fe80::1%;}x",
        " 1.2.3.4",
        "1.2.3.4 ",
        "01.2.3.4",
        "1.2.3",
        "",
        "1.2.3.4/33",
        None,
        5,
    ):
        assert parse_network(text) is None, text
    assert str(parse_network("1.2.3.4/24")) == "1.2.3.0/24"
    assert str(parse_network("::ffff:1.2.3.4")) == "1.2.3.4/32"
    assert str(parse_network("2001:DB8::1")) == "2001:db8::1/128"


def _v4_nets() -> st.SearchStrategy[str]:
    # Small networks inside 10.0.0.0/20 so that overlaps and neighbours are frequent.
    return st.builds(
        lambda addr, plen: str(ipaddress.ip_network((0x0A000000 + addr, plen), strict=False)),
        st.integers(0, 4095),
        st.integers(22, 32),
    )


def _v6_nets() -> st.SearchStrategy[str]:
    return st.builds(
        lambda addr, plen: str(
            ipaddress.ip_network((0x20010DB8 << 96 | addr << 64, plen), strict=False)
        ),
        st.integers(0, 255),
        st.integers(52, 66),
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_v4_nets(), _v6_nets()), max_size=40))
def test_collapse_equals_aggregate6(nets: list[str]) -> None:
    plan = plan_addresses(frame(*(offender(n) for n in nets)), NO_LIMITS)
    ours = sorted(str(n) for n in plan.networks)
    theirs = sorted(str(ipaddress.ip_network(n)) for n in aggregate(nets)) if nets else []
    assert ours == theirs


def _addresses(nets: list[ipaddress.IPv4Network]) -> set[int]:
    return {int(a) for n in nets for a in n}


@settings(max_examples=150, deadline=None)
@given(st.lists(_v4_nets(), max_size=30), st.lists(_v4_nets(), max_size=5), st.integers(22, 32))
def test_coverage_is_exact_and_never_broader(nets: list[str], never: list[str], limit: int) -> None:
    options = ExportOptions(max_prefix_v4=limit, never_block=tuple(never), allow_private=False)
    plan = plan_addresses(frame(*(offender(n) for n in nets)), options)
    kept = [ipaddress.IPv4Network(n) for n in nets if ipaddress.IPv4Network(n).prefixlen >= limit]
    expected = _addresses(kept) - _addresses([ipaddress.IPv4Network(n) for n in never])
    got = [n for n in plan.networks if isinstance(n, ipaddress.IPv4Network)]
    assert all(n.prefixlen >= limit for n in got)
    assert _addresses(got) == expected
    covered = [int(a) for n in got for a in n]
    assert len(covered) == len(set(covered))  # no overlapping entries


def test_network_text() -> None:
    assert network_text(ipaddress.ip_network("1.2.3.4/32")) == "1.2.3.4"
    assert network_text(ipaddress.ip_network("2001:db8::/48")) == "2001:db8::/48"
