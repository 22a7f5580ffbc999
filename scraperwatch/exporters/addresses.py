"""Export stage: validate offender addresses, remove never-block ranges, collapse into CIDRs."""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import polars as pl

from scraperwatch import schema
from scraperwatch.errors import ExportError
from scraperwatch.exporters.base import ExportOptions

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Never blocked while ExportOptions.allow_private is True (the default): a private or
# loopback client is the admin's own network, a container, or a proxy that is missing from
# the trusted-proxy list; blocking it would lock out the instance itself. 100.64.0.0/10 is
# carrier-grade NAT (and Tailscale), shared by many users behind one address.
PRIVATE_NETWORKS: Final = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "::/128",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
)


def parse_network(text: object) -> Network | None:
    """An address or CIDR as a network, or None when it is not exactly one.

    The network is rebuilt from integers, so nothing of the input string survives: the
    standard library keeps an IPv6 zone id (`fe80::1%;}evil`) verbatim, so it is refused.
    IPv4-mapped IPv6 addresses become IPv4. Host bits are dropped (1.2.3.4/24 -> 1.2.3.0/24).
    """
    if not isinstance(text, str) or "%" in text or not text or len(text) > 64:
        return None
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    if isinstance(net, ipaddress.IPv6Network):
        mapped = net.network_address.ipv4_mapped
        if mapped is not None and net.prefixlen >= 96:
            return ipaddress.IPv4Network((int(mapped), net.prefixlen - 96), strict=False)
        return ipaddress.IPv6Network((int(net.network_address), net.prefixlen))
    return ipaddress.IPv4Network((int(net.network_address), net.prefixlen))


def network_text(net: Network) -> str:
    """A host as a bare address, anything wider as a CIDR."""
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def sort_key(net: Network) -> tuple[int, int, int]:
    return (net.version, int(net.network_address), net.prefixlen)


class _Ranges:
    """Disjoint [start, end] integer intervals of one address family, for overlap lookups."""

    def __init__(self, nets: Iterable[Network]) -> None:
        self.nets = sorted(ipaddress.collapse_addresses(nets), key=sort_key)  # type: ignore[type-var]
        self.starts = [int(n.network_address) for n in self.nets]
        self.ends = [int(n.network_address) + n.num_addresses - 1 for n in self.nets]

    def overlapping(self, net: Network) -> list[Network]:
        lo = int(net.network_address)
        hi = lo + net.num_addresses - 1
        i = bisect.bisect_right(self.starts, hi)
        found: list[Network] = []
        while i > 0 and self.ends[i - 1] >= lo:  # disjoint and sorted: ends increase too
            i -= 1
            found.append(self.nets[i])
        return found


def never_block_networks(options: ExportOptions) -> tuple[Network, ...]:
    """The never-block list as networks; an entry that is not an address or CIDR is an error."""
    entries = list(options.never_block)
    if options.allow_private:
        entries += PRIVATE_NETWORKS
    nets = []
    for entry in entries:
        net = parse_network(entry)
        if net is None:
            raise ExportError(
                f"never-block entry {entry!r} is not an address or CIDR: fix the allowlist "
                "or the ranges file it came from"
            )
        nets.append(net)
    return tuple(nets)


@dataclass(frozen=True)
class AddressPlan:
    """The networks a blocklist emits, and what was left out (counted for the header)."""

    networks: tuple[Network, ...]  # IPv4 first, then IPv6, each sorted
    offenders: int  # blocked offender rows considered
    kept_out: int  # rows dropped or split because they overlap the never-block list
    invalid: int  # rows whose ip is not an address or CIDR
    too_broad: int  # prefixes broader than max_prefix_v4 / max_prefix_v6

    @property
    def v4(self) -> tuple[ipaddress.IPv4Network, ...]:
        return tuple(n for n in self.networks if isinstance(n, ipaddress.IPv4Network))

    @property
    def v6(self) -> tuple[ipaddress.IPv6Network, ...]:
        return tuple(n for n in self.networks if isinstance(n, ipaddress.IPv6Network))

    def counts(self, options: ExportOptions) -> list[str]:
        return [
            f"addresses: {len(self.networks)} entries ({len(self.v4)} IPv4, {len(self.v6)} IPv6) "
            f"from {self.offenders} blocked offenders",
            f"left out: {self.kept_out} on the never-block list, {self.invalid} invalid, "
            f"{self.too_broad} broader than /{options.max_prefix_v4} or /{options.max_prefix_v6}",
        ]


def blocked_ips(offenders: pl.DataFrame) -> list[object]:
    """The ip column of the rows whose action is block."""
    if offenders.is_empty():
        return []
    rows = offenders.filter(pl.col(schema.ACTION) == schema.Action.BLOCK.value)
    return list(rows.get_column(schema.IP).to_list())


def _subtract(net: Network, holes: Sequence[Network]) -> list[Network]:
    pieces: list[Network] = [net]
    for hole in holes:
        nxt: list[Network] = []
        for piece in pieces:
            if piece.version != hole.version or not piece.overlaps(hole):
                nxt.append(piece)
            elif piece.subnet_of(hole):  # type: ignore[arg-type]
                continue
            else:  # the hole lies inside the piece: keep the rest of the piece
                nxt.extend(piece.address_exclude(hole))  # type: ignore[arg-type]
        pieces = nxt
    return pieces


def _collapse(nets: list[Network], limit: int) -> list[Network]:
    # ipaddress.collapse_addresses rather than aggregate6: it gives the same minimal set (a
    # property test checks it against aggregate6), works on the networks already validated
    # here instead of re-parsing strings, and it is the standard library. The merge can join
    # neighbours into a network broader than the limit; those are cut back to the limit, so
    # an entry never covers more than max_prefix allows.
    out: list[Network] = []
    for merged in ipaddress.collapse_addresses(nets):  # type: ignore[type-var]
        if merged.prefixlen < limit:
            out.extend(merged.subnets(new_prefix=limit))
        else:
            out.append(merged)
    return out


def plan_addresses(offenders: pl.DataFrame, options: ExportOptions) -> AddressPlan:
    """Validate, filter and collapse the addresses of the blocked offenders.

    A prefix broader than the limit is left out (counted), not split: the limit bounds the
    collateral damage of one verdict. A blocked network inside a never-block network is left
    out; a never-block network inside a blocked prefix splits the prefix around it.
    """
    never = never_block_networks(options)
    ranges = {
        4: _Ranges(n for n in never if n.version == 4),
        6: _Ranges(n for n in never if n.version == 6),
    }
    limits = {4: options.max_prefix_v4, 6: options.max_prefix_v6}
    ips = blocked_ips(offenders)
    kept: dict[int, list[Network]] = {4: [], 6: []}
    invalid = too_broad = kept_out = 0
    for raw in ips:
        net = parse_network(raw)
        if net is None:
            invalid += 1
            continue
        if net.prefixlen < limits[net.version]:
            too_broad += 1
            continue
        holes = ranges[net.version].overlapping(net)
        if holes:
            kept_out += 1
            kept[net.version].extend(_subtract(net, holes))
        else:
            kept[net.version].append(net)
    networks = [
        *sorted(_collapse(kept[4], limits[4]), key=sort_key),
        *sorted(_collapse(kept[6], limits[6]), key=sort_key),
    ]
    return AddressPlan(
        networks=tuple(networks),
        offenders=len(ips),
        kept_out=kept_out,
        invalid=invalid,
        too_broad=too_broad,
    )
