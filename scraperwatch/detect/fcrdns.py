"""Detect stage: forward-confirmed reverse DNS (FCrDNS) of clients that claim a crawler operator.

The check the operators document (Google, Bing, Apple, Yandex): the PTR name of the address
ends in one of the operator's domains, and that name resolves back to the same address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import dns.exception
import dns.name
import dns.resolver
import dns.reversename

from scraperwatch.errors import RangesError


@dataclass(frozen=True)
class FcrdnsResult:
    """The outcome for one address.

    confirmed: the PTR name is under a listed suffix and resolves back to the address.
    definitive: when not confirmed, whether DNS answered (no PTR, wrong domain, no match)
    rather than failed (timeout, unreachable server), which proves nothing.
    """

    ip: str
    confirmed: bool
    definitive: bool
    name: str | None
    detail: str


class Fcrdns(Protocol):
    """What RangeSet.verify needs: FCrDNS results per (address, allowed suffixes)."""

    def check_many(
        self, items: Iterable[tuple[str, tuple[str, ...]]]
    ) -> dict[tuple[str, tuple[str, ...]], FcrdnsResult]: ...


class FcrdnsResolver:
    """FCrDNS with dnspython, against the system's resolvers or the given nameservers."""

    def __init__(
        self,
        nameservers: Sequence[str] | None = None,
        *,
        port: int = 53,
        timeout: float = 3.0,
        workers: int = 8,
    ) -> None:
        try:
            self._resolver = dns.resolver.Resolver(configure=not nameservers)
        except dns.resolver.NoResolverConfiguration:
            raise RangesError(
                "reverse DNS: this machine has no resolver configured (/etc/resolv.conf); "
                "give a nameserver or leave reverse DNS off"
            ) from None
        if nameservers:
            self._resolver.nameservers = list(nameservers)
        self._resolver.port = port
        self._resolver.timeout = timeout
        self._resolver.lifetime = timeout
        self._workers = max(1, workers)
        self._cache: dict[tuple[str, tuple[str, ...]], FcrdnsResult] = {}

    def _names(self, qname: dns.name.Name | str, rdtype: str) -> tuple[list[str], str | None]:
        """The answers, or [] with the reason; a reason starting 'error' is not definitive."""
        try:
            answer = self._resolver.resolve(qname, rdtype, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return [], "NXDOMAIN"
        except dns.resolver.NoNameservers as err:
            return [], f"error: no nameserver answered ({err})"
        except dns.exception.Timeout:
            return [], f"error: timed out after {self._resolver.lifetime:g} s"
        except (dns.exception.DNSException, OSError) as err:
            return [], f"error: {err}"
        if answer.rrset is None:
            return [], "no record"
        return [r.to_text() for r in answer.rrset], None

    def check(self, ip: str, suffixes: Sequence[str]) -> FcrdnsResult:
        """FCrDNS for one address; never raises for DNS failures (they are results)."""
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return FcrdnsResult(ip, False, True, None, f"{ip!r} is not an IP address")
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped  # ::ffff:192.0.2.1 has the PTR and A records of 192.0.2.1
        ptrs, why = self._names(dns.reversename.from_address(str(addr)), "PTR")
        if not ptrs:
            definitive = not (why or "").startswith("error")
            return FcrdnsResult(ip, False, definitive, None, f"PTR of {ip}: {why}")
        wanted = tuple(s.lower() for s in suffixes)
        names = [p.rstrip(".").lower() for p in ptrs]
        under = [n for n in names if any(n.endswith(s) or "." + n == s for s in wanted)]
        if not under:
            return FcrdnsResult(
                ip,
                False,
                True,
                names[0],
                f"PTR {names[0]} is not under {', '.join(wanted)}",
            )
        rdtype = "A" if addr.version == 4 else "AAAA"
        errors = []
        for name in under:
            addresses, why = self._names(name + ".", rdtype)
            if any(ipaddress.ip_address(a) == addr for a in addresses):
                return FcrdnsResult(ip, True, True, name, f"{ip} -> {name} -> {ip}")
            if why and why.startswith("error"):
                errors.append(f"{name}: {why}")
        if errors:
            return FcrdnsResult(ip, False, False, under[0], "; ".join(errors))
        return FcrdnsResult(ip, False, True, under[0], f"{under[0]} does not resolve back to {ip}")

    def check_many(
        self, items: Iterable[tuple[str, tuple[str, ...]]]
    ) -> dict[tuple[str, tuple[str, ...]], FcrdnsResult]:
        """Check distinct (address, suffixes) pairs in a few threads, with a cache."""
        wanted = list(dict.fromkeys(items))
        todo = [k for k in wanted if k not in self._cache]
        if todo:
            with ThreadPoolExecutor(max_workers=min(self._workers, len(todo))) as pool:
                for key, result in zip(
                    todo, pool.map(lambda k: self.check(k[0], k[1]), todo), strict=True
                ):
                    self._cache[key] = result
        return {k: self._cache[k] for k in wanted}
