"""Export stage: firewall sets (nftables, ipset) and the plain list of addresses and CIDRs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Final

import polars as pl

from scraperwatch.exporters.addresses import Network, network_text, plan_addresses
from scraperwatch.exporters.base import Exporter, ExportOptions, header

NFT_TABLE: Final = "scraperwatch"
NFT_SET_V4: Final = "block_v4"
NFT_SET_V6: Final = "block_v6"
IPSET_V4: Final = "scraperwatch_v4"
IPSET_V6: Final = "scraperwatch_v6"
# Fixed creation parameters: `create -exist` fails when a set exists with other ones.
_IPSET_PARAMS: Final = "hashsize 1024 maxelem 1048576"
_FIREWALL_NOTE: Final = (
    "A firewall sees no paths: blocked addresses cannot read /robots.txt either."
)


def _elements(nets: Sequence[Network]) -> str:
    return ",\n".join("\t" + network_text(n) for n in nets)


class NftablesExporter(Exporter):
    """Two interval sets in table `inet scraperwatch`, replaced in one transaction by `nft -f`."""

    name: ClassVar[str] = "nftables"

    def render(self, offenders: pl.DataFrame, *, options: ExportOptions) -> str:
        plan = plan_addresses(offenders, options)
        text = header(
            options,
            title=f"nftables sets {NFT_SET_V4} and {NFT_SET_V6} in table inet {NFT_TABLE}",
            counts=plan.counts(options),
            usage=[
                "Load with: nft -f scraperwatch.nft (the file flushes and refills both sets",
                "atomically, so reloading it retires expired entries). Then, once:",
                f"    nft add chain inet {NFT_TABLE} input '{{ type filter hook input priority -10; }}'",
                f"    nft add rule inet {NFT_TABLE} input ip saddr @{NFT_SET_V4} drop",
                f"    nft add rule inet {NFT_TABLE} input ip6 saddr @{NFT_SET_V6} drop",
                _FIREWALL_NOTE,
            ],
        )
        lines = [f"add table inet {NFT_TABLE}"]
        for name, kind, nets in (
            (NFT_SET_V4, "ipv4_addr", plan.v4),
            (NFT_SET_V6, "ipv6_addr", plan.v6),
        ):
            lines += [
                f"add set inet {NFT_TABLE} {name} {{ type {kind}; flags interval; }}",
                f"flush set inet {NFT_TABLE} {name}",
            ]
            if nets:
                lines.append(f"add element inet {NFT_TABLE} {name} {{\n{_elements(nets)}\n}}")
        return text + "\n" + "\n".join(lines) + "\n"


class IpsetExporter(Exporter):
    """An `ipset restore` file: hash:net sets for IPv4 and IPv6, filled then swapped in."""

    name: ClassVar[str] = "ipset"

    def render(self, offenders: pl.DataFrame, *, options: ExportOptions) -> str:
        plan = plan_addresses(offenders, options)
        text = header(
            options,
            title=f"ipset restore file: sets {IPSET_V4} and {IPSET_V6} (hash:net)",
            counts=plan.counts(options),
            usage=[
                "Load with: ipset restore < scraperwatch.ipset (each set is filled under a",
                "temporary name, then swapped in). Then, once:",
                f"    iptables -I INPUT -m set --match-set {IPSET_V4} src -j DROP",
                f"    ip6tables -I INPUT -m set --match-set {IPSET_V6} src -j DROP",
                _FIREWALL_NOTE,
            ],
        )
        lines: list[str] = []
        for name, family, nets in (
            (IPSET_V4, "inet", plan.v4),
            (IPSET_V6, "inet6", plan.v6),
        ):
            tmp = f"{name}_new"
            lines += [
                f"create {name} hash:net family {family} {_IPSET_PARAMS} -exist",
                f"create {tmp} hash:net family {family} {_IPSET_PARAMS} -exist",
                f"flush {tmp}",
                *(f"add {tmp} {network_text(n)}" for n in nets),
                f"swap {tmp} {name}",
                f"destroy {tmp}",
            ]
        return text + "\n" + "\n".join(lines) + "\n"


class PlainExporter(Exporter):
    """One address or CIDR per line, after the header comments."""

    name: ClassVar[str] = "plain"

    def render(self, offenders: pl.DataFrame, *, options: ExportOptions) -> str:
        plan = plan_addresses(offenders, options)
        text = header(
            options, title="blocked addresses and CIDRs", counts=plan.counts(options), usage=[]
        )
        return text + "".join(network_text(n) + "\n" for n in plan.networks)
