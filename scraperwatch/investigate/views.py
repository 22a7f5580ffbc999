"""Investigation stage: one client looked at closely (`investigate`) and the tops (`top`)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from scraperwatch import schema as s
from scraperwatch.detect import robots as rb
from scraperwatch.detect.features import F_PREFIX, prefix_of
from scraperwatch.enrich import Enricher
from scraperwatch.investigate.categories import AGENT, RULE_CATEGORY, RULE_ID, rule_pairs
from scraperwatch.investigate.source import QueryError, ua_contains

if TYPE_CHECKING:
    from scraperwatch.detect.rulefile import RuleSet


# Columns of the views (beside the canonical ones of schema.py).
HOUR: Final = "hour"
CLIENTS: Final = "clients"
SHARE: Final = "share"
ERRORS: Final = "errors"  # 4xx and 5xx responses
DISTINCT_PATHS: Final = "distinct_paths"
DISTINCT_UAS: Final = "user_agents"
PREFIX: Final = F_PREFIX
ROBOTS_FETCHES: Final = "robots_fetches"
ROBOTS_FIRST: Final = "robots_first_fetch"
ROBOTS_PATH: Final = "/robots.txt"

# --------------------------------------------------------------------------------------------
# top


class TopKind(StrEnum):
    IPS = "ips"
    PREFIXES = "prefixes"
    ASNS = "asns"
    UAS = "uas"
    PATHS = "paths"
    AGENTS = "agents"


def _volume() -> list[pl.Expr]:
    return [
        pl.len().cast(pl.Int64).alias(s.REQUESTS),
        pl.col(s.BYTES_SENT).sum().cast(pl.Int64).alias(s.BYTES),
    ]


def _ranked(frame: pl.LazyFrame, key: str, limit: int) -> pl.LazyFrame:
    return frame.sort([s.REQUESTS, key], descending=[True, False], nulls_last=True).head(limit)


def top(
    frame: pl.LazyFrame,
    kind: TopKind,
    *,
    limit: int = 20,
    enricher: Enricher | None = None,
    ruleset: RuleSet | None = None,
    pairs: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The heaviest clients, prefixes, ASNs, user agents, paths or rule-named agents."""
    ip = pl.col(s.CLIENT_IP)
    if kind is TopKind.IPS:
        out = _ranked(
            frame.group_by(s.CLIENT_IP).agg(
                *_volume(),
                pl.col(s.PATH).n_unique().alias(DISTINCT_PATHS),
                pl.col(s.USER_AGENT).n_unique().alias(DISTINCT_UAS),
                pl.col(s.TS).min().alias(s.FIRST_SEEN),
                pl.col(s.TS).max().alias(s.LAST_SEEN),
            ),
            s.CLIENT_IP,
            limit,
        ).collect(engine="streaming")
        return _with_places(out, s.CLIENT_IP, enricher)
    if kind in (TopKind.PREFIXES, TopKind.ASNS):
        # Aggregate per address first: the prefix (or ASN) lookup then runs once per address.
        per_ip = frame.group_by(s.CLIENT_IP).agg(
            *_volume(),
            pl.col(s.TS).min().alias(s.FIRST_SEEN),
            pl.col(s.TS).max().alias(s.LAST_SEEN),
        )
        per_ip_df = per_ip.collect(engine="streaming")
        if kind is TopKind.PREFIXES:
            keyed = per_ip_df.with_columns(prefix_of(ip).alias(PREFIX))
            key = PREFIX
        else:
            if enricher is None or not enricher.active:
                raise QueryError("`top asns` needs an ASN database: give --asn-db FILE.mmdb")
            places = enricher.lookup_many(per_ip_df[s.CLIENT_IP].drop_nulls().to_list())
            keyed = per_ip_df.with_columns(
                ip.replace_strict(
                    {k: p.asn for k, p in places.items()}, default=None, return_dtype=pl.Int64
                ).alias(s.ASN),
                ip.replace_strict(
                    {k: p.as_org for k, p in places.items()}, default=None, return_dtype=pl.String
                ).alias(s.AS_ORG),
            )
            key = s.ASN
        group = [key, s.AS_ORG] if key == s.ASN else [key]
        agg = keyed.group_by(group).agg(
            pl.col(s.CLIENT_IP).n_unique().alias(CLIENTS),
            pl.col(s.REQUESTS).sum(),
            pl.col(s.BYTES).sum(),
            pl.col(s.FIRST_SEEN).min(),
            pl.col(s.LAST_SEEN).max(),
        )
        ranked = _ranked(agg.lazy(), key, limit).collect()
        cols = [*group, CLIENTS, s.REQUESTS, s.BYTES, s.FIRST_SEEN, s.LAST_SEEN]
        return ranked.select(cols)
    if kind is TopKind.UAS:
        return _ranked(
            frame.group_by(s.USER_AGENT).agg(*_volume(), ip.n_unique().alias(CLIENTS)),
            s.USER_AGENT,
            limit,
        ).collect(engine="streaming")
    if kind is TopKind.PATHS:
        return _ranked(
            frame.group_by(s.PATH).agg(
                *_volume(),
                ip.n_unique().alias(CLIENTS),
                (pl.col(s.STATUS) >= 400).sum().cast(pl.Int64).alias(ERRORS),
            ),
            s.PATH,
            limit,
        ).collect(engine="streaming")
    if kind is TopKind.AGENTS:
        if pairs is None:
            if ruleset is None:
                raise QueryError("`top agents` needs the rules")
            pairs = rule_pairs(frame, ruleset)
        named = pairs.filter(pl.col(AGENT).is_not_null())
        agg = named.group_by(AGENT, RULE_CATEGORY).agg(
            pl.col(s.REQUESTS).sum(),
            pl.col(s.CLIENT_IP).n_unique().alias(CLIENTS),
            pl.col(s.BYTES).sum(),
            pl.col(RULE_ID).unique().sort().str.join(", ").alias("rules"),
        )
        return _ranked(agg.lazy(), AGENT, limit).collect().rename({RULE_CATEGORY: s.CATEGORY})
    raise AssertionError(kind)  # pragma: no cover


def _with_places(frame: pl.DataFrame, column: str, enricher: Enricher | None) -> pl.DataFrame:
    if enricher is None or not enricher.active or frame.is_empty():
        return frame
    places = enricher.lookup_many(frame[column].drop_nulls().to_list())
    col = pl.col(column)
    return frame.with_columns(
        col.replace_strict(
            {k: p.asn for k, p in places.items()}, default=None, return_dtype=pl.Int64
        ).alias(s.ASN),
        col.replace_strict(
            {k: p.as_org for k, p in places.items()}, default=None, return_dtype=pl.String
        ).alias(s.AS_ORG),
        col.replace_strict(
            {k: p.country for k, p in places.items()}, default=None, return_dtype=pl.String
        ).alias(s.COUNTRY),
    )


# --------------------------------------------------------------------------------------------
# investigate


class TargetKind(StrEnum):
    ADDRESS = "address"
    PREFIX = "prefix"
    USER_AGENT = "user-agent"


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    value: str  # the normalised address or network, or the substring as given

    @classmethod
    def parse(cls, text: str) -> Target:
        """An address, else a CIDR, else a case-insensitive user-agent substring."""
        candidate = text.strip()
        if not candidate:
            raise QueryError("give an address, a CIDR or a piece of a user agent to investigate")
        try:
            return cls(TargetKind.ADDRESS, str(ipaddress.ip_address(candidate.strip("[]"))))
        except ValueError:
            pass
        if "/" in candidate:
            try:
                return cls(TargetKind.PREFIX, str(ipaddress.ip_network(candidate, strict=False)))
            except ValueError as err:
                if re.fullmatch(r"[0-9a-fA-F:.]+/\d+", candidate) and any(
                    c in candidate for c in ".:"
                ):
                    raise QueryError(
                        f"{text!r} looks like a CIDR but is not one ({err}); write it as "
                        "203.0.113.0/24 or 2001:db8::/48"
                    ) from None
        return cls(TargetKind.USER_AGENT, text)

    def expr(self) -> pl.Expr:
        if self.kind is TargetKind.ADDRESS:
            return (pl.col(s.CLIENT_IP) == self.value).fill_null(False)
        if self.kind is TargetKind.PREFIX:
            from scraperwatch.detect.match import ip_in_networks

            return ip_in_networks(s.CLIENT_IP, [self.value])
        return ua_contains(self.value)

    def covers(self, offender_ip: str, clients: set[str]) -> bool:
        """Whether an offender (an address or a CIDR) is about this target."""
        try:
            net = ipaddress.ip_network(offender_ip, strict=False)
        except ValueError:
            return False
        if self.kind is TargetKind.ADDRESS:
            return ipaddress.ip_address(self.value) in net
        if self.kind is TargetKind.PREFIX:
            mine = ipaddress.ip_network(self.value)
            return mine.version == net.version and mine.overlaps(net)  # type: ignore[arg-type, unused-ignore]
        if offender_ip in clients:
            return True
        if net.num_addresses == 1:
            return False
        return any(_in(c, net) for c in clients)


def _in(addr: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(addr) in net
    except ValueError:
        return False


@dataclass
class Investigation:
    target: Target
    overview: dict[str, Any]
    hours: pl.DataFrame
    paths: pl.DataFrame
    statuses: pl.DataFrame
    user_agents: pl.DataFrame
    clients: pl.DataFrame
    robots: pl.DataFrame | None = None
    verdicts: pl.DataFrame | None = None

    def sections(self) -> dict[str, pl.DataFrame]:
        out = {
            "hours": self.hours,
            "paths": self.paths,
            "statuses": self.statuses,
            "user_agents": self.user_agents,
            "clients": self.clients,
        }
        if self.robots is not None:
            out["robots"] = self.robots
        if self.verdicts is not None:
            out["verdicts"] = self.verdicts
        return out


def investigate(
    frame: pl.LazyFrame,
    target: Target,
    *,
    limit: int = 20,
    offenders: pl.DataFrame | None = None,
    robots: rb.Robots | None = None,
    enricher: Enricher | None = None,
) -> Investigation:
    """Everything the window holds about one address, prefix or user agent."""
    hits = frame.filter(target.expr())
    ip = pl.col(s.CLIENT_IP)
    overview_plan = hits.select(
        pl.len().cast(pl.Int64).alias(s.REQUESTS),
        pl.col(s.BYTES_SENT).sum().cast(pl.Int64).alias(s.BYTES),
        ip.n_unique().alias(CLIENTS),
        pl.col(s.USER_AGENT).n_unique().alias(DISTINCT_UAS),
        pl.col(s.PATH).n_unique().alias(DISTINCT_PATHS),
        pl.col(s.TS).min().alias(s.FIRST_SEEN),
        pl.col(s.TS).max().alias(s.LAST_SEEN),
        (pl.col(s.PATH) == ROBOTS_PATH).sum().cast(pl.Int64).alias(ROBOTS_FETCHES),
    )
    hours_plan = (
        hits.group_by(pl.col(s.TS).dt.truncate("1h").alias(HOUR))
        .agg(*_volume(), (pl.col(s.STATUS) >= 400).sum().cast(pl.Int64).alias(ERRORS))
        .sort(HOUR)
    )
    paths_plan = _ranked(
        hits.group_by(s.PATH).agg(
            *_volume(), (pl.col(s.STATUS) >= 400).sum().cast(pl.Int64).alias(ERRORS)
        ),
        s.PATH,
        limit,
    )
    status_plan = (
        hits.group_by(s.STATUS)
        .agg(pl.len().cast(pl.Int64).alias(s.REQUESTS))
        .with_columns((pl.col(s.REQUESTS) / pl.col(s.REQUESTS).sum()).round(4).alias(SHARE))
        .sort(s.STATUS)
    )
    ua_plan = _ranked(
        hits.group_by(s.USER_AGENT).agg(*_volume(), ip.n_unique().alias(CLIENTS)),
        s.USER_AGENT,
        limit,
    )
    client_all = hits.group_by(s.CLIENT_IP).agg(
        *_volume(),
        pl.col(s.TS).min().alias(s.FIRST_SEEN),
        pl.col(s.TS).max().alias(s.LAST_SEEN),
    )
    overview_df, hours, paths, statuses, uas, clients_all = pl.collect_all(
        [overview_plan, hours_plan, paths_plan, status_plan, ua_plan, client_all],
        engine="streaming",
    )
    overview = {"target": target.value, "kind": target.kind.value, **overview_df.row(0, named=True)}
    clients = _with_places(
        _ranked(clients_all.lazy(), s.CLIENT_IP, limit).collect(), s.CLIENT_IP, enricher
    )
    if enricher is not None and enricher.active and target.kind is not TargetKind.USER_AGENT:
        place = enricher.lookup(target.value)
        overview.update({s.ASN: place.asn, s.AS_ORG: place.as_org, s.COUNTRY: place.country})

    robots_df = None
    if robots is not None:
        rows = hits.select(s.CLIENT_IP, s.USER_AGENT, s.TS, s.PATH, s.QUERY).collect(
            engine="streaming"
        )
        robots_df = robots_behaviour(rows, robots)

    verdicts = None
    if offenders is not None:
        names = set(clients_all[s.CLIENT_IP].drop_nulls().to_list())
        keep = [target.covers(v, names) for v in offenders[s.IP].to_list()]
        verdicts = offenders.filter(pl.Series(keep, dtype=pl.Boolean))
    return Investigation(
        target, overview, hours, paths, statuses, uas, clients, robots_df, verdicts
    )


def robots_behaviour(rows: pl.DataFrame, robots: rb.Robots) -> pl.DataFrame:
    """Per (client, user agent): robots.txt fetches, then the disallowed requests (RFC 9309)."""
    fetches = rows.group_by(s.CLIENT_IP, s.USER_AGENT).agg(
        pl.len().cast(pl.Int64).alias(s.REQUESTS),
        (pl.col(s.PATH) == ROBOTS_PATH).sum().cast(pl.Int64).alias(ROBOTS_FETCHES),
        pl.col(s.TS).filter(pl.col(s.PATH) == ROBOTS_PATH).min().alias(ROBOTS_FIRST),
    )
    comp = rb.compliance(rows, robots)
    return (
        fetches.join(comp, on=[s.CLIENT_IP, s.USER_AGENT], how="left", nulls_equal=True)
        .with_columns(
            pl.col(rb.R_DISALLOWED).fill_null(0), pl.col(rb.R_DISALLOWED_ANY).fill_null(0)
        )
        .sort([s.REQUESTS, s.CLIENT_IP], descending=[True, False], nulls_last=True)
    )
