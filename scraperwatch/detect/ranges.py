"""Detect stage: published crawler address ranges: lookup and verification of claimed operators.

Each operator that publishes the addresses of its crawlers (Google, Bing, OpenAI, ...) has one
dated snapshot, `rules/ranges/<operator>.json` (rangefiles.py). `load_ranges` reads the shipped
snapshots, the ones `scraperwatch ranges update` refreshed (rangesources.py), and the user's
overrides, and returns a RangeSet that looks addresses up and verifies claimed operators, in
Polars.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from scraperwatch.detect.rangefiles import (
    FETCHABLE,
    OperatorRanges,
    Origin,
    SourceFormat,
    apply_override,
    apply_update,
    default_updates_dir,
    override_files,
    read_snapshot,
    shipped_ranges_dir,
    snapshot_files,
)
from scraperwatch.schema import (
    CLAIMED_OPERATOR,
    CLIENT_IP,
    OPERATOR,
    VERIFICATION,
    VERIFICATION_DETAIL,
    Verification,
)

if TYPE_CHECKING:
    from datetime import date

    from scraperwatch.detect.fcrdns import Fcrdns

__all__ = [
    "DEFAULT_MAX_AGE_DAYS",
    "OperatorRanges",
    "Origin",
    "RangeSet",
    "SourceFormat",
    "ip_keys",
    "load_ranges",
]

DEFAULT_MAX_AGE_DAYS: Final = 30

# An address as a UInt128 key: IPv6 as is, IPv4 in the IPv4-mapped block ::ffff:0:0/96, so
# that `::ffff:66.249.66.1` and `66.249.66.1` are the same key and one sorted table holds both.
_V4_BASE: Final = 0xFFFF << 32
_V4_OCTET: Final = r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_V4_RE: Final = rf"^{_V4_OCTET}\.{_V4_OCTET}\.{_V4_OCTET}\.{_V4_OCTET}$"
_KEY: Final = "_key"
_START: Final = "_start"
_END: Final = "_end"
_PREFIX: Final = "_prefix"
_OPS: Final = "_operators"


def load_ranges(
    extra: Sequence[Path] = (),
    *,
    include_shipped: bool = True,
    include_updates: bool = True,
    updates_dir: Path | None = None,
) -> RangeSet:
    """Read the shipped snapshots, then refreshed ones, then the user's overrides.

    A refreshed snapshot (from `ranges update`, in `updates_dir`, default
    `default_updates_dir()`) replaces the shipped prefixes when it is at least as new; the
    shipped agents and rdns stay. Each path in `extra` is a snapshot `.json`, a `<operator>.txt`
    list of CIDRs, or a folder of them: it replaces that operator's ranges (or adds to them with
    `"merge": "extend"` / `# merge: extend`), and may add new operators.
    """
    ops: dict[str, OperatorRanges] = {}
    if include_shipped:
        for path in snapshot_files(shipped_ranges_dir()):
            r = read_snapshot(path)
            ops[r.operator] = r
    if include_updates:
        directory = updates_dir if updates_dir is not None else default_updates_dir()
        if directory.is_dir():
            for path in snapshot_files(directory):
                apply_update(ops, read_snapshot(path, origin=Origin.UPDATED))
    for item in extra:
        for path in override_files(item):
            apply_override(ops, path)
    return RangeSet(ops.values())


def _interval(prefix: str) -> tuple[int, int]:
    net = ipaddress.ip_network(prefix)
    start = int(net.network_address)
    end = int(net.broadcast_address)
    if net.version == 4:
        return _V4_BASE + start, _V4_BASE + end
    return start, end


# --- addresses as keys -----------------------------------------------------------------------
def ip_keys(ips: pl.Series) -> pl.DataFrame:
    """The distinct addresses of `ips` with their UInt128 key (null when not an address).

    IPv4 is parsed by Polars string expressions; IPv6 (rarer) by the standard library.
    """
    frame = pl.DataFrame({CLIENT_IP: ips.cast(pl.String)}).unique()
    octets = pl.col(CLIENT_IP).str.split_exact(".", 3)
    v4 = (
        frame.filter(pl.col(CLIENT_IP).str.contains(_V4_RE))
        .with_columns(octets.alias("_o"))
        .unnest("_o")
    )
    f = [pl.col(c).cast(pl.UInt64) for c in v4.columns if c.startswith("field_")]
    v4 = v4.select(
        CLIENT_IP,
        (pl.lit(_V4_BASE, pl.UInt64) + f[0] * (1 << 24) + f[1] * (1 << 16) + f[2] * 256 + f[3])
        .cast(pl.UInt128)
        .alias(_KEY),
    )
    others = frame.filter(
        pl.col(CLIENT_IP).is_not_null() & ~pl.col(CLIENT_IP).str.contains(_V4_RE)
    )[CLIENT_IP].to_list()
    keys: list[int | None] = []
    for text in others:
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            keys.append(None)
            continue
        keys.append(_V4_BASE + int(addr) if addr.version == 4 else int(addr))
    v6 = pl.DataFrame(
        {CLIENT_IP: pl.Series(others, dtype=pl.String), _KEY: pl.Series(keys, dtype=pl.UInt128)}
    )
    return pl.concat([v4, v6])


# --- the set of all operators ----------------------------------------------------------------
class RangeSet:
    """All operators' ranges: look addresses up and verify claimed operators, vectorised."""

    def __init__(self, operators: Iterable[OperatorRanges]) -> None:
        self._ops = {r.operator: r for r in sorted(operators, key=lambda r: r.operator)}

    @property
    def operators(self) -> list[str]:
        return list(self._ops)

    def __getitem__(self, operator: str) -> OperatorRanges:
        return self._ops[operator]

    def __contains__(self, operator: object) -> bool:
        return operator in self._ops

    def __iter__(self) -> Iterator[OperatorRanges]:
        return iter(self._ops.values())

    def __len__(self) -> int:
        return len(self._ops)

    @cached_property
    def _intervals(self) -> pl.DataFrame:
        """operator, start, end, prefix; prefixes nested in another of the same operator dropped,
        so that each operator's intervals are disjoint (CIDRs nest or are disjoint)."""
        rows: list[tuple[str, int, int, str]] = []
        for r in self._ops.values():
            spans = sorted(((*_interval(p), p) for p in r.prefixes), key=lambda s: (s[0], -s[1]))
            last_end = -1
            for start, end, prefix in spans:
                if end <= last_end:
                    continue  # nested in the previous prefix
                rows.append((r.operator, start, end, prefix))
                last_end = end
        return pl.DataFrame(
            {
                OPERATOR: pl.Series([x[0] for x in rows], dtype=pl.String),
                _START: pl.Series([x[1] for x in rows], dtype=pl.UInt128),
                _END: pl.Series([x[2] for x in rows], dtype=pl.UInt128),
                _PREFIX: pl.Series([x[3] for x in rows], dtype=pl.String),
            }
        ).sort(_START)

    @cached_property
    def _segments(self) -> pl.DataFrame:
        """Disjoint address segments with the operators whose ranges cover each (sorted)."""
        events: dict[int, list[tuple[int, str]]] = {}
        for op, start, end in self._intervals.select(OPERATOR, _START, _END).iter_rows():
            events.setdefault(start, []).append((1, op))
            events.setdefault(end + 1, []).append((-1, op))
        active: dict[str, int] = {}
        starts: list[int] = []
        ends: list[int] = []
        covers: list[list[str]] = []
        points = sorted(events)
        for i, point in enumerate(points):
            for delta, op in events[point]:
                active[op] = active.get(op, 0) + delta
                if active[op] == 0:
                    del active[op]
            if active and i + 1 < len(points):
                starts.append(point)
                ends.append(points[i + 1] - 1)
                covers.append(sorted(active))
        return pl.DataFrame(
            {
                _START: pl.Series(starts, dtype=pl.UInt128),
                _END: pl.Series(ends, dtype=pl.UInt128),
                _OPS: pl.Series(covers, dtype=pl.List(pl.String)),
            }
        )

    def _covering(self, ips: pl.Series) -> pl.DataFrame:
        keys = ip_keys(ips).filter(pl.col(_KEY).is_not_null()).sort(_KEY)
        hits = keys.join_asof(
            self._segments, left_on=_KEY, right_on=_START, strategy="backward"
        ).select(
            CLIENT_IP,
            pl.when(pl.col(_END) >= pl.col(_KEY)).then(pl.col(_OPS)).alias(_OPS),
        )
        return pl.DataFrame({CLIENT_IP: ips.cast(pl.String)}).join(
            hits, on=CLIENT_IP, how="left", maintain_order="left"
        )

    def lookup_all(self, ips: pl.Series) -> pl.Series:
        """For each address, the sorted list of operators whose ranges contain it (empty if none)."""
        covering = self._covering(ips)[_OPS].fill_null(pl.Series([[]], dtype=pl.List(pl.String)))
        return covering.alias(OPERATOR)

    def lookup(self, ips: pl.Series) -> pl.Series:
        """For each address, the operator whose ranges contain it, or null.

        Where two operators publish the same addresses (GPTBot and OAI-SearchBot share some),
        the first by name; `lookup_all` gives them all.
        """
        return self._covering(ips)[_OPS].list.first().alias(OPERATOR)

    def claimed_operator(self, user_agents: pl.Series) -> pl.Series:
        """The operator whose agent token a user agent carries (`Googlebot/2.1`, `; GPTBot`).

        Tokens match whole, case-insensitively; a user agent that names no known agent gives
        null. When tokens of two operators appear, the longest token wins.
        """
        pairs = sorted(
            ((agent, r.operator) for r in self._ops.values() for agent in r.agents),
            key=lambda p: (-len(p[0]), p[0].lower()),
        )
        expr: Any = pl.lit(None, dtype=pl.String)
        for agent, op in reversed(pairs):
            pattern = rf"(?i)(?:^|[^a-z0-9-]){re.escape(agent)}(?:$|[^a-z0-9_])"
            expr = pl.when(pl.col("_ua").str.contains(pattern)).then(pl.lit(op)).otherwise(expr)
        frame = pl.DataFrame({"_ua": user_agents.cast(pl.String)})
        return frame.select(expr.alias(CLAIMED_OPERATOR)).to_series()

    def _operator_info(self) -> pl.DataFrame:
        rows = []
        for r in self._ops.values():
            when = r.fetched.isoformat() if r.fetched else "never"
            if r.prefixes:
                reason = None
            elif r.source_format == SourceFormat.FCRDNS:
                reason = f"{r.operator} publishes no address ranges (reverse DNS only)"
            else:
                reason = f"no ranges of {r.operator} yet: run `scraperwatch ranges update`"
            rows.append((r.operator, len(r.prefixes), when, reason))
        return pl.DataFrame(
            rows,
            schema={
                CLAIMED_OPERATOR: pl.String,
                "_n": pl.Int64,
                "_fetched": pl.String,
                "_reason": pl.String,
            },
            orient="row",
        )

    def verify(self, claims: pl.DataFrame, *, fcrdns: Fcrdns | None = None) -> pl.DataFrame:
        """Verify that each client_ip belongs to its claimed_operator.

        Adds `verification` (verified, spoofed or unverifiable, see schema.Verification) and
        `verification_detail` (the evidence) to `claims`. With `fcrdns`, operators that document
        reverse-DNS names get a forward-confirmed reverse DNS check where their ranges cannot
        confirm the address (none published, or the address lies outside them).
        """
        pairs = claims.select(
            pl.col(CLIENT_IP).cast(pl.String), pl.col(CLAIMED_OPERATOR).cast(pl.String)
        ).unique()
        keyed = pairs.join(ip_keys(pairs[CLIENT_IP]), on=CLIENT_IP, how="left")
        located = (
            keyed.filter(pl.col(_KEY).is_not_null() & pl.col(CLAIMED_OPERATOR).is_not_null())
            .sort(_KEY)
            .join_asof(
                self._intervals,
                left_on=_KEY,
                right_on=_START,
                by_left=CLAIMED_OPERATOR,
                by_right=OPERATOR,
                strategy="backward",
                check_sortedness=False,
            )
            .select(
                CLIENT_IP,
                CLAIMED_OPERATOR,
                pl.when(pl.col(_END) >= pl.col(_KEY)).then(pl.col(_PREFIX)).alias(_PREFIX),
            )
        )
        info = self._operator_info()
        op = pl.col(CLAIMED_OPERATOR)
        judged = (
            keyed.join(located, on=[CLIENT_IP, CLAIMED_OPERATOR], how="left")
            .join(info, on=CLAIMED_OPERATOR, how="left")
            .with_columns(
                pl.when(op.is_null())
                .then(pl.lit(Verification.UNVERIFIABLE.value))
                .when(pl.col("_n").is_null())
                .then(pl.lit(Verification.UNVERIFIABLE.value))
                .when(pl.col(_KEY).is_null())
                .then(pl.lit(Verification.UNVERIFIABLE.value))
                .when(pl.col(_PREFIX).is_not_null())
                .then(pl.lit(Verification.VERIFIED.value))
                .when(pl.col("_n") == 0)
                .then(pl.lit(Verification.UNVERIFIABLE.value))
                .otherwise(pl.lit(Verification.SPOOFED.value))
                .alias(VERIFICATION),
                pl.when(op.is_null())
                .then(pl.lit("no operator claimed"))
                .when(pl.col("_n").is_null())
                .then(pl.format("no ranges known for operator {}", op))
                .when(pl.col(_KEY).is_null())
                .then(
                    pl.when(pl.col(CLIENT_IP).is_null())
                    .then(pl.lit("no client address"))
                    .otherwise(pl.format("{} is not an IP address", pl.col(CLIENT_IP)))
                )
                .when(pl.col(_PREFIX).is_not_null())
                .then(pl.format("in {} ({} ranges fetched {})", pl.col(_PREFIX), op, "_fetched"))
                .when(pl.col("_n") == 0)
                .then(pl.col("_reason"))
                .otherwise(
                    pl.format(
                        "outside the {} published prefixes of {} (fetched {})",
                        "_n",
                        op,
                        "_fetched",
                    )
                )
                .alias(VERIFICATION_DETAIL),
            )
            .select(CLIENT_IP, CLAIMED_OPERATOR, VERIFICATION, VERIFICATION_DETAIL)
        )
        if fcrdns is not None:
            judged = self._apply_fcrdns(judged, fcrdns)
        claims_str = claims.with_columns(
            pl.col(CLIENT_IP).cast(pl.String), pl.col(CLAIMED_OPERATOR).cast(pl.String)
        )
        return claims_str.join(
            judged,
            on=[CLIENT_IP, CLAIMED_OPERATOR],
            how="left",
            nulls_equal=True,
            maintain_order="left",
        )

    def _apply_fcrdns(self, judged: pl.DataFrame, fcrdns: Fcrdns) -> pl.DataFrame:
        todo: list[tuple[str, tuple[str, ...]]] = []
        rows = judged.to_dicts()
        for row in rows:
            r = self._ops.get(row[CLAIMED_OPERATOR] or "")
            if r is not None and r.rdns and row[VERIFICATION] != Verification.VERIFIED:
                if row[VERIFICATION_DETAIL].endswith("is not an IP address"):
                    continue
                todo.append((row[CLIENT_IP], r.rdns))
        if not todo:
            return judged
        results = fcrdns.check_many(todo)
        for row in rows:
            r = self._ops.get(row[CLAIMED_OPERATOR] or "")
            if r is None or not r.rdns or row[VERIFICATION] == Verification.VERIFIED:
                continue
            res = results.get((row[CLIENT_IP], r.rdns))
            if res is None:
                continue
            if res.confirmed:
                row[VERIFICATION] = Verification.VERIFIED.value
                row[VERIFICATION_DETAIL] = f"forward-confirmed reverse DNS: {res.detail}"
            elif res.definitive:
                row[VERIFICATION] = Verification.SPOOFED.value
                row[VERIFICATION_DETAIL] = f"{row[VERIFICATION_DETAIL]}; reverse DNS: {res.detail}"
            else:
                row[VERIFICATION_DETAIL] = (
                    f"{row[VERIFICATION_DETAIL]}; reverse DNS inconclusive: {res.detail}"
                )
        return pl.DataFrame(rows, schema=judged.schema)

    def stale(
        self, max_age_days: int = DEFAULT_MAX_AGE_DAYS, *, today: date | None = None
    ) -> list[str]:
        """Warnings for operators whose ranges are older than `max_age_days` or never fetched."""
        out = []
        for r in self._ops.values():
            if r.source_format == SourceFormat.FCRDNS:
                continue  # nothing published that could rot
            src = r.source_url or "no source address"
            if r.origin == Origin.OVERRIDE:
                fix = f"refresh {r.path}"
            elif r.source_format in FETCHABLE:
                fix = "run `scraperwatch ranges update`"
            else:
                fix = f"check {src} and refresh it by hand (an override file, docs/ranges.md)"
            age = r.age_days(today)
            if age is None:
                out.append(f"{r.operator}: no ranges fetched yet (source {src}); {fix}")
            elif age > max_age_days:
                out.append(
                    f"{r.operator}: ranges fetched {r.fetched} ({age} days ago) from {src}; {fix}"
                )
        return out
