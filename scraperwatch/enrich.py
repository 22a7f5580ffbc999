"""Enrichment: ASN, organisation and country of addresses from MaxMind-format (mmdb) files."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import maxminddb

from scraperwatch.errors import DatabaseError


@dataclass(frozen=True)
class Place:
    asn: int | None = None
    as_org: str | None = None
    country: str | None = None


def _open(path: Path, what: str) -> Any:
    try:
        return maxminddb.open_database(str(path))
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as err:
        raise DatabaseError(
            f"{path}: cannot open it as an mmdb {what} database ({err}); give a GeoLite2 or "
            "DB-IP .mmdb file"
        ) from err


class Enricher:
    """Looks addresses up in an ASN database and a country database (either may be absent).

    Reads GeoLite2-ASN / DB-IP ASN (`autonomous_system_number`, `autonomous_system_organization`)
    and GeoLite2-Country/City / DB-IP country (`country.iso_code`) records.
    """

    def __init__(self, asn_db: Path | None = None, geo_db: Path | None = None) -> None:
        self._asn = _open(asn_db, "ASN") if asn_db else None
        self._geo = _open(geo_db, "country") if geo_db else None

    @property
    def active(self) -> bool:
        return self._asn is not None or self._geo is not None

    def lookup(self, ip: str) -> Place:
        """The place of an address, or of a CIDR's first address."""
        addr = ip.split("/", 1)[0]
        asn = org = country = None
        try:
            if self._asn is not None:
                rec = self._asn.get(addr) or {}
                asn = rec.get("autonomous_system_number")
                org = rec.get("autonomous_system_organization")
            if self._geo is not None:
                rec = self._geo.get(addr) or {}
                country = (rec.get("country") or rec.get("registered_country") or {}).get(
                    "iso_code"
                )
        except ValueError:
            return Place()
        return Place(int(asn) if asn is not None else None, org, country)

    @property
    def has_asn(self) -> bool:
        return self._asn is not None

    def asns(self, ips: Iterable[str]) -> dict[str, int | None]:
        """The ASN of each address (None where the database has none)."""
        return {ip: self.lookup(ip).asn for ip in ips}

    def lookup_many(self, ips: Iterable[str]) -> dict[str, Place]:
        return {ip: self.lookup(ip) for ip in ips}

    def close(self) -> None:
        for db in (self._asn, self._geo):
            if db is not None:
                db.close()
