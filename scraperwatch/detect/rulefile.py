"""Detection stage, rule data: read and validate the TOML rule files into an immutable RuleSet.

The schema is documented in docs/rules.md. Shipped rules live in the package
`scraperwatch._rules` (the repository's top-level rules/ folder); users add folders with
`--rules DIR`. Every fact carries `source` and `checked`; every error names the file, the rule
id, the field and the fix.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import importlib.resources
import ipaddress
import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Final

import polars as pl

from scraperwatch import schema
from scraperwatch.errors import RuleFileError
from scraperwatch.schema import Action, Category

SHIPPED_PACKAGE: Final = "scraperwatch._rules"
CATCHALL_PACKAGE: Final = "crawleruseragents"
CATCHALL_DATA: Final = "crawler-user-agents.json"

RULE_KEYS: Final = frozenset(
    {
        "id",
        "title",
        "category",
        "action",
        "operator",
        "token",
        "aliases",
        "robots_token",
        "references",
        "clause",
        "source",
        "checked",
        "verify",
        "note",
        "match",
        "override",
        "enabled",
        "fallback",
    }
)
REQUIRED_KEYS: Final = ("id", "title", "category", "source", "checked")
MATCH_KEYS: Final = frozenset(
    {
        "user_agent",
        "user_agent_empty",
        "user_agent_case_sensitive",
        "client",
        "asn",
        "path",
        "query",
        "method",
        "status",
        "host",
        "header",
    }
)
CATCHALL_KEYS: Final = frozenset(
    {
        "id",
        "title",
        "category",
        "action",
        "references",
        "clause",
        "source",
        "checked",
        "exclude_patterns",
        "protect",
        "override",
        "enabled",
    }
)

# match.header.<name>: the optional header columns of the canonical schema. Hyphenated spellings
# (as in HTTP) are accepted too.
HEADER_COLUMNS: Final[Mapping[str, str]] = {
    "accept": schema.ACCEPT,
    "accept_language": schema.ACCEPT_LANGUAGE,
    "sec_fetch_site": schema.SEC_FETCH_SITE,
    "sec_fetch_mode": schema.SEC_FETCH_MODE,
    "sec_fetch_dest": schema.SEC_FETCH_DEST,
    "sec_ch_ua": schema.SEC_CH_UA,
}

ID_RE: Final = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+$")
# A token is copied literally into robots.txt groups and (escaped) into server configs: keep it to
# the characters real product tokens use.
TOKEN_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/+:'-]*$")
VERIFY_RE: Final = re.compile(r"^[a-z0-9][a-z0-9-]*$")
METHOD_RE: Final = re.compile(r"^[A-Z]+$")
# A user-agent regex that is nothing but a short word matches inside unrelated products
# (ai.robots.txt #208/#233: "LCC" in IE's "SLCC2", "Code" in a Mastodon fetcher).
BARE_WORD_RE: Final = re.compile(r"^(?:\(\?i\))?[A-Za-z]{1,7}$")


@dataclass(frozen=True)
class Conditions:
    """The `match.*` table of a rule: every condition given must hold (AND)."""

    user_agent: str | None = None
    user_agent_empty: bool = False
    user_agent_case_sensitive: bool = False
    client: tuple[str, ...] = ()
    asn: tuple[int, ...] = ()
    path: str | None = None
    query: str | None = None
    method: tuple[str, ...] = ()
    status: tuple[int, ...] = ()
    host: str | None = None
    headers: tuple[tuple[str, str], ...] = ()  # (canonical column, regex)

    @property
    def ua_regex(self) -> str | None:
        """The user-agent regex as Polars runs it (case-insensitive unless said otherwise)."""
        if self.user_agent is None:
            return None
        if self.user_agent_case_sensitive or self.user_agent.startswith("(?i)"):
            return self.user_agent
        return "(?i)" + self.user_agent

    @property
    def is_empty(self) -> bool:
        return not (self.has_ua or self.has_request)

    @property
    def has_ua(self) -> bool:
        return self.user_agent is not None or self.user_agent_empty

    @property
    def has_request(self) -> bool:
        """True when the rule needs fields of the request beyond the user agent."""
        return bool(
            self.client
            or self.asn
            or self.path is not None
            or self.query is not None
            or self.method
            or self.status
            or self.host is not None
            or self.headers
        )


@dataclass(frozen=True)
class CatchallPattern:
    """One pattern of the crawler-user-agents list that the catch-all rule kept."""

    pattern: str
    tags: tuple[str, ...]
    url: str | None


@dataclass(frozen=True)
class CatchallStats:
    """What happened to the package's patterns on the way into the catch-all rule."""

    package_version: str
    total: int
    kept: int
    invalid: tuple[str, ...]  # did not compile in Polars' regex engine
    excluded: tuple[str, ...]  # listed in exclude_patterns
    protected: tuple[str, ...]  # matched a user agent of `protect`


@dataclass(frozen=True)
class Rule:
    """One detection rule. `curated` is False only for the crawler-user-agents catch-all."""

    id: str
    title: str
    category: Category
    source: str
    checked: dt.date
    match: Conditions
    action: Action | None = None
    operator: str | None = None
    token: str | None = None
    aliases: tuple[str, ...] = ()
    robots_token: bool = False
    references: tuple[str, ...] = ()
    clause: str | None = None
    verify: str | None = None
    note: str | None = None
    file: str = ""  # where it was read from, for messages; not part of the digest
    curated: bool = True
    fallback: bool = False  # only for user agents that no other rule (nor the catch-all) matched
    catchall: tuple[CatchallPattern, ...] = ()
    catchall_stats: CatchallStats | None = field(default=None, compare=False)

    @property
    def tier(self) -> int:
        """0: curated rules, 1: the crawler-user-agents catch-all, 2: fallback rules."""
        if not self.curated:
            return 1
        return 2 if self.fallback else 0

    @property
    def tokens(self) -> tuple[str, ...]:
        """The literal product tokens of this rule (token first, then aliases)."""
        return ((self.token,) if self.token else ()) + self.aliases

    def to_dict(self) -> dict[str, Any]:
        """The rule's content, normalized (used for JSON output and the rule-set digest)."""
        m = self.match
        match: dict[str, Any] = {}
        if m.user_agent is not None:
            match["user_agent"] = m.user_agent
        if m.user_agent_empty:
            match["user_agent_empty"] = True
        if m.user_agent_case_sensitive:
            match["user_agent_case_sensitive"] = True
        if m.client:
            match["client"] = list(m.client)
        if m.asn:
            match["asn"] = list(m.asn)
        for key, value in (("path", m.path), ("query", m.query), ("host", m.host)):
            if value is not None:
                match[key] = value
        if m.method:
            match["method"] = list(m.method)
        if m.status:
            match["status"] = list(m.status)
        if m.headers:
            match["header"] = dict(m.headers)
        out: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "category": self.category.value,
            "action": self.action.value if self.action else None,
            "operator": self.operator,
            "token": self.token,
            "aliases": list(self.aliases),
            "robots_token": self.robots_token,
            "references": list(self.references),
            "clause": self.clause,
            "source": self.source,
            "checked": self.checked.isoformat(),
            "verify": self.verify,
            "note": self.note,
            "match": match,
            "curated": self.curated,
            "fallback": self.fallback,
        }
        if not self.curated:
            out["catchall_patterns"] = [p.pattern for p in self.catchall]
        return out


@dataclass(frozen=True)
class RuleSet:
    """The rules in precedence order (load order; the catch-all last) and a digest of them."""

    rules: tuple[Rule, ...]
    digest: str
    files: tuple[str, ...] = ()

    def by_id(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    @property
    def curated(self) -> tuple[Rule, ...]:
        """The rules of the first tier: from rule files, not marked `fallback`."""
        return tuple(r for r in self.rules if r.tier == 0)

    @property
    def fallback(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.tier == 2)

    @property
    def catchall(self) -> Rule | None:
        return next((r for r in self.rules if not r.curated), None)


# --------------------------------------------------------------------------------------------
# Loading


def shipped_rules_dir() -> Traversable:
    """The folder of shipped rule files: the installed package, or the repository's rules/."""
    try:
        root = importlib.resources.files(SHIPPED_PACKAGE)
        if root.is_dir() and any(p.name.endswith(".toml") for p in root.iterdir()):
            return root
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        pass
    return Path(__file__).resolve().parents[2] / "rules"


def load_ruleset(extra_dirs: Sequence[Path] = (), *, shipped: bool = True) -> RuleSet:
    """Load the shipped rules, then each of `extra_dirs` in order, and validate them all.

    A rule id may appear once; a later file replaces an earlier rule only with `override = true`
    (and drops it with `override = true` plus `enabled = false`). Raises RuleFileError.
    """
    return _load_cached(tuple(rule_texts(extra_dirs, shipped=shipped)))


def rule_texts(extra_dirs: Sequence[Path] = (), *, shipped: bool = True) -> list[tuple[str, str]]:
    """(file name, text) of the rule files in search order: shipped, then each extra folder."""
    sources: list[tuple[str, str]] = []
    if shipped:
        sources += _read_dir(shipped_rules_dir())
    for d in extra_dirs:
        path = Path(d)
        if not path.is_dir():
            raise RuleFileError(
                f"{path}: not a folder of rule files; pass a directory holding *.toml files to --rules"
            )
        found = _read_dir(path)
        if not found:
            raise RuleFileError(
                f"{path}: holds no *.toml rule file; put your [[rule]] tables there"
            )
        sources += found
    return sources


def load_rule_texts(texts: Sequence[tuple[str, str]]) -> RuleSet:
    """Load rules from (name, TOML text) pairs: for tests and for `rules check` on one file."""
    return _load_cached(tuple(texts))


def _read_dir(folder: Traversable) -> list[tuple[str, str]]:
    out = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.is_file() and entry.name.endswith(".toml"):
            try:
                text = entry.read_text(encoding="utf-8")
            except UnicodeDecodeError as err:
                raise RuleFileError(
                    f"{entry}: not UTF-8 ({err.reason} at byte {err.start}); save the file as UTF-8"
                ) from None
            except OSError as err:
                raise RuleFileError(f"{entry}: cannot be read ({err.strerror})") from None
            out.append((str(entry), text))
    return out


@lru_cache(maxsize=8)
def _load_cached(sources: tuple[tuple[str, str], ...]) -> RuleSet:
    rules: dict[str, Rule] = {}
    catchall_spec: tuple[str, Mapping[str, Any]] | None = None
    for name, text in sources:
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise RuleFileError(f"{name}: not valid TOML: {err}; fix the syntax there") from None
        unknown = set(doc) - {"rule", "catchall"}
        if unknown:
            key = sorted(unknown)[0]
            raise RuleFileError(
                f"{name}: unknown top-level key `{key}`{_did_you_mean(key, ('rule', 'catchall'))}; "
                "a rule file holds [[rule]] tables (and at most one [catchall] table)"
            )
        raw_rules = doc.get("rule", [])
        if not isinstance(raw_rules, list) or not all(isinstance(r, dict) for r in raw_rules):
            raise RuleFileError(
                f"{name}: `rule` must be an array of tables; write [[rule]] (two brackets)"
            )
        for index, raw in enumerate(raw_rules, start=1):
            rule, override, enabled = _parse_rule(name, index, raw)
            if rule.id in rules and not override:
                raise RuleFileError(
                    f"{name}: rule {rule.id}: duplicate id, already defined in {rules[rule.id].file}; "
                    "give this rule a new id, or add `override = true` to replace the earlier one"
                )
            if override and rule.id not in rules:
                raise RuleFileError(
                    f"{name}: rule {rule.id}: `override = true` but no earlier rule has this id; "
                    "remove `override` or fix the id"
                )
            if not enabled:
                rules.pop(rule.id, None)
            else:
                rules[rule.id] = rule
        if "catchall" in doc:
            spec = doc["catchall"]
            if not isinstance(spec, dict):
                raise RuleFileError(f"{name}: `catchall` must be a table; write [catchall]")
            if catchall_spec is not None and spec.get("override") is not True:
                raise RuleFileError(
                    f"{name}: a [catchall] table is already defined in {catchall_spec[0]}; "
                    "add `override = true` to replace it"
                )
            catchall_spec = (name, spec)
    ordered = list(rules.values())
    if catchall_spec is not None:
        catchall = _build_catchall(catchall_spec[0], catchall_spec[1])
        if catchall is not None:
            if catchall.id in rules:
                raise RuleFileError(
                    f"{catchall_spec[0]}: catchall {catchall.id}: id already used by a rule in "
                    f"{rules[catchall.id].file}; give the catch-all another id"
                )
            ordered.append(catchall)
    digest = hashlib.sha256(
        json.dumps([r.to_dict() for r in ordered], sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()
    return RuleSet(rules=tuple(ordered), digest=digest, files=tuple(n for n, _ in sources))


# --------------------------------------------------------------------------------------------
# Validation


def _did_you_mean(key: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(choices), n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""


class _Ctx:
    """Builds error messages that name the file, the rule and the field."""

    def __init__(self, file: str, rule_id: str) -> None:
        self.file = file
        self.rule_id = rule_id

    def error(self, fieldname: str, problem: str, fix: str) -> RuleFileError:
        return RuleFileError(f"{self.file}: rule {self.rule_id}: `{fieldname}` {problem}; {fix}")


def _parse_rule(file: str, index: int, raw: Mapping[str, Any]) -> tuple[Rule, bool, bool]:
    rid = raw.get("id")
    ctx = _Ctx(file, rid if isinstance(rid, str) and rid else f"#{index} (no id)")
    for key in raw:
        if key not in RULE_KEYS:
            raise ctx.error(
                key,
                f"is not a rule field{_did_you_mean(key, RULE_KEYS)}",
                "see docs/rules.md for the fields",
            )
    for key in REQUIRED_KEYS:
        if key not in raw:
            raise ctx.error(key, "is missing", f"every rule needs {', '.join(REQUIRED_KEYS)}")
    rule_id = _string(ctx, raw, "id")
    if not ID_RE.match(rule_id):
        raise ctx.error(
            "id",
            f"{rule_id!r} is not a rule id",
            "use capitals, digits and dashes with a family prefix, e.g. UA-EXAMPLEBOT or TOOL-FOO",
        )
    category = _enum(ctx, raw, "category", Category)
    action = _enum(ctx, raw, "action", Action) if "action" in raw else None
    token = _opt_string(ctx, raw, "token")
    if token is not None and not TOKEN_RE.match(token):
        raise ctx.error(
            "token",
            f"{token!r} is not a literal product token",
            "write the token as the crawler sends it (letters, digits, space and . _ / + : ' -), no regex",
        )
    aliases = _string_list(ctx, raw, "aliases")
    for alias in aliases:
        if not TOKEN_RE.match(alias):
            raise ctx.error(
                "aliases", f"{alias!r} is not a literal product token", "write literal tokens only"
            )
    robots_token = _bool(ctx, raw, "robots_token", default=False)
    references = _string_list(ctx, raw, "references")
    for ref in references:
        if not ref.startswith(("https://", "http://")):
            raise ctx.error(
                "references", f"{ref!r} is not a URL", "give http(s) addresses of vendor pages"
            )
    checked = _date(ctx, raw)
    verify = _opt_string(ctx, raw, "verify")
    if verify is not None and not VERIFY_RE.match(verify):
        raise ctx.error(
            "verify", f"{verify!r} is not an operator name", 'use lower case, e.g. "googlebot"'
        )
    match_raw = raw.get("match", {})
    if not isinstance(match_raw, dict):
        raise ctx.error(
            "match", "must be a table", "write match.user_agent = '...' or a [rule.match] table"
        )
    conditions = _parse_match(ctx, match_raw)
    override = _bool(ctx, raw, "override", default=False)
    enabled = _bool(ctx, raw, "enabled", default=True)
    fallback = _bool(ctx, raw, "fallback", default=False)
    if fallback and (conditions.has_request or conditions.user_agent is None):
        raise ctx.error(
            "fallback",
            "is only for rules with match.user_agent and no other condition",
            "remove `fallback`, or keep only match.user_agent",
        )
    if conditions.is_empty and not robots_token and enabled:
        raise ctx.error(
            "match",
            "has no condition, so the rule can never match",
            "add match.user_agent (or another condition), or set robots_token = true for a robots.txt-only token",
        )
    rule = Rule(
        id=rule_id,
        title=_string(ctx, raw, "title"),
        category=category,
        source=_string(ctx, raw, "source"),
        checked=checked,
        match=conditions,
        action=action,
        operator=_opt_string(ctx, raw, "operator"),
        token=token,
        aliases=aliases,
        robots_token=robots_token,
        references=references,
        clause=_opt_string(ctx, raw, "clause"),
        verify=verify,
        note=_opt_string(ctx, raw, "note"),
        file=file,
        fallback=fallback,
    )
    return rule, override, enabled


def _parse_match(ctx: _Ctx, raw: Mapping[str, Any]) -> Conditions:
    for key in raw:
        if key not in MATCH_KEYS:
            raise ctx.error(
                f"match.{key}",
                f"is not a match condition{_did_you_mean(key, MATCH_KEYS)}",
                f"use one of {', '.join(sorted(MATCH_KEYS))}",
            )
    user_agent = _opt_string(ctx, raw, "user_agent", prefix="match.")
    if user_agent is not None:
        _check_regex(ctx, "match.user_agent", user_agent)
        if BARE_WORD_RE.match(user_agent):
            raise ctx.error(
                "match.user_agent",
                f"{user_agent!r} is a bare word and would match inside unrelated user agents",
                f"anchor it to the token form, e.g. '{user_agent}/' or '; {user_agent}'",
            )
    path = _opt_string(ctx, raw, "path", prefix="match.")
    query = _opt_string(ctx, raw, "query", prefix="match.")
    host = _opt_string(ctx, raw, "host", prefix="match.")
    for key, value in (("match.path", path), ("match.query", query), ("match.host", host)):
        if value is not None:
            _check_regex(ctx, key, value)
    client = _string_list(ctx, raw, "client", prefix="match.")
    for entry in client:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ctx.error(
                "match.client",
                f"{entry!r} is not an address or CIDR",
                'write e.g. "192.0.2.7" or "2001:db8::/32"',
            ) from None
    asn = _int_list(ctx, raw, "asn", low=1, high=4_294_967_295)
    status = _int_list(ctx, raw, "status", low=100, high=599)
    method_raw = raw.get("method", [])
    methods = [method_raw] if isinstance(method_raw, str) else method_raw
    if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
        raise ctx.error(
            "match.method", "must be a string or a list of strings", 'write e.g. ["GET", "HEAD"]'
        )
    methods = [m.upper() for m in methods]
    for m in methods:
        if not METHOD_RE.match(m):
            raise ctx.error("match.method", f"{m!r} is not an HTTP method", 'write e.g. "POST"')
    headers_raw = raw.get("header", {})
    if not isinstance(headers_raw, dict):
        raise ctx.error("match.header", "must be a table", "write match.header.accept = '...'")
    headers: list[tuple[str, str]] = []
    for name, value in headers_raw.items():
        key = name.lower().replace("-", "_")
        if key not in HEADER_COLUMNS:
            raise ctx.error(
                f"match.header.{name}",
                f"is not a header the logs carry{_did_you_mean(key, HEADER_COLUMNS)}",
                f"use one of {', '.join(HEADER_COLUMNS)}",
            )
        if not isinstance(value, str):
            raise ctx.error(
                f"match.header.{name}", "must be a string (a regex)", "quote it with '...'"
            )
        _check_regex(ctx, f"match.header.{name}", value)
        headers.append((HEADER_COLUMNS[key], value))
    return Conditions(
        user_agent=user_agent,
        user_agent_empty=_bool(ctx, raw, "user_agent_empty", default=False, prefix="match."),
        user_agent_case_sensitive=_bool(
            ctx, raw, "user_agent_case_sensitive", default=False, prefix="match."
        ),
        client=client,
        asn=asn,
        path=path,
        query=query,
        method=tuple(methods),
        status=status,
        host=host,
        headers=tuple(headers),
    )


def regex_error(pattern: str) -> str | None:
    """The error Polars' regex engine (Rust `regex`) gives for `pattern`, or None if it compiles."""
    try:
        pl.Series([""]).str.contains(pattern)
    except pl.exceptions.PolarsError as err:
        lines = [ln for ln in str(err).splitlines() if ln.strip()]
        # Polars wraps the engine's message ("regex parse error: ... error: ...") in its own.
        detail = next((ln.strip() for ln in lines if ln.strip().startswith("error:")), None)
        return (
            detail[len("error:") :].strip() if detail else (lines[0] if lines else "invalid regex")
        )
    return None


def _check_regex(ctx: _Ctx, key: str, pattern: str) -> None:
    problem = regex_error(pattern)
    if problem is not None:
        fix = "escape literal ( ) [ ] . + ? * with a backslash"
        if "look-around" in problem:
            fix = "Polars' regex engine has no look-ahead or look-behind; rewrite without (?= (?! (?<= (?<!"
        elif "backreference" in problem:
            fix = "Polars' regex engine has no backreferences; rewrite without \\1"
        raise ctx.error(key, f"is not a valid regex ({problem})", fix)


def _string(ctx: _Ctx, raw: Mapping[str, Any], key: str, *, prefix: str = "") -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ctx.error(prefix + key, "must be a non-empty string", f'write {key} = "..."')
    return value


def _opt_string(ctx: _Ctx, raw: Mapping[str, Any], key: str, *, prefix: str = "") -> str | None:
    if key not in raw:
        return None
    return _string(ctx, raw, key, prefix=prefix)


def _bool(ctx: _Ctx, raw: Mapping[str, Any], key: str, *, default: bool, prefix: str = "") -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ctx.error(
            prefix + key, f"must be true or false, not {value!r}", f"write {key} = true"
        )
    return value


def _string_list(
    ctx: _Ctx, raw: Mapping[str, Any], key: str, *, prefix: str = ""
) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ctx.error(prefix + key, "must be a list of strings", f'write {key} = ["..."]')
    return tuple(value)


def _int_list(
    ctx: _Ctx, raw: Mapping[str, Any], key: str, *, low: int, high: int
) -> tuple[int, ...]:
    value = raw.get(key, [])
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise ctx.error(
            f"match.{key}", "must be a list of integers", f"write match.{key} = [{low}]"
        )
    for v in value:
        if not low <= v <= high:
            raise ctx.error(
                f"match.{key}", f"{v} is out of range", f"use integers from {low} to {high}"
            )
    return tuple(value)


def _enum(ctx: _Ctx, raw: Mapping[str, Any], key: str, enum: type[Category] | type[Action]) -> Any:
    value = raw.get(key)
    allowed = [m.value for m in enum]
    if value not in allowed:
        hint = _did_you_mean(str(value), allowed)
        raise ctx.error(
            key, f"{value!r} is not a valid {key}{hint}", f"use one of {', '.join(allowed)}"
        )
    return enum(value)


def _date(ctx: _Ctx, raw: Mapping[str, Any]) -> dt.date:
    value = raw.get("checked")
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ctx.error(
        "checked",
        f"{value!r} is not a date",
        "write checked = 2026-11-23 (the day you checked the source)",
    )


# --------------------------------------------------------------------------------------------
# The crawler-user-agents catch-all


def catchall_package_data() -> tuple[str, list[dict[str, Any]]]:
    """The installed crawler-user-agents version and its patterns (as the package ships them)."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        try:
            pkg_version = version("crawler-user-agents")
        except PackageNotFoundError:
            pkg_version = "unknown"
        data = (
            importlib.resources.files(CATCHALL_PACKAGE)
            .joinpath(CATCHALL_DATA)
            .read_text(encoding="utf-8")
        )
    except (ModuleNotFoundError, FileNotFoundError) as err:
        raise RuleFileError(
            f"the crawler-user-agents package is not installed ({err}); "
            "install it (pip install crawler-user-agents) or disable the catch-all with enabled = false"
        ) from None
    entries = json.loads(data)
    return pkg_version, [
        e for e in entries if isinstance(e, dict) and isinstance(e.get("pattern"), str)
    ]


def _build_catchall(file: str, spec: Mapping[str, Any]) -> Rule | None:
    rid = spec.get("id")
    ctx = _Ctx(file, f"catchall {rid}" if isinstance(rid, str) else "catchall")
    for key in spec:
        if key not in CATCHALL_KEYS:
            raise ctx.error(
                key,
                f"is not a catchall field{_did_you_mean(key, CATCHALL_KEYS)}",
                "see docs/rules.md",
            )
    for key in ("id", "title", "category", "source", "checked"):
        if key not in spec:
            raise ctx.error(
                key, "is missing", "the [catchall] table needs id, title, category, source, checked"
            )
    if not _bool(ctx, spec, "enabled", default=True):
        return None
    rule_id = _string(ctx, spec, "id")
    if not ID_RE.match(rule_id):
        raise ctx.error("id", f"{rule_id!r} is not a rule id", "use e.g. CUA-CATCHALL")
    excluded_list = _string_list(ctx, spec, "exclude_patterns")
    protect = _string_list(ctx, spec, "protect")
    pkg_version, entries = catchall_package_data()
    patterns = [e["pattern"] for e in entries]
    # Compile every pattern in one pass: per-row patterns with strict=False give null where a
    # pattern does not compile, instead of raising.
    frame = pl.DataFrame({"p": patterns}, schema={"p": pl.String})
    compiled = frame.select(pl.lit("").str.contains(pl.col("p"), strict=False).alias("ok"))["ok"]
    valid_mask = compiled.is_not_null().to_list()
    invalid = tuple(p for p, ok in zip(patterns, valid_mask, strict=True) if not ok)
    excluded_set = set(excluded_list)
    candidates = [
        e
        for e, ok in zip(entries, valid_mask, strict=True)
        if ok and e["pattern"] not in excluded_set
    ]
    protected_hits: set[str] = set()
    if protect and candidates:
        cross = pl.DataFrame({"p": [e["pattern"] for e in candidates]}).join(
            pl.DataFrame({"ua": list(protect)}), how="cross"
        )
        hits = cross.filter(pl.col("ua").str.contains(pl.col("p"), strict=False).fill_null(False))
        protected_hits = set(hits["p"].to_list())
    kept = [e for e in candidates if e["pattern"] not in protected_hits]
    stats = CatchallStats(
        package_version=pkg_version,
        total=len(patterns),
        kept=len(kept),
        invalid=invalid,
        excluded=tuple(p for p in patterns if p in excluded_set),
        protected=tuple(sorted(protected_hits)),
    )
    pats = tuple(
        CatchallPattern(
            pattern=e["pattern"],
            tags=tuple(str(t) for t in e.get("tags", []) if isinstance(t, str)),
            url=e.get("url") if isinstance(e.get("url"), str) else None,
        )
        for e in kept
    )
    alternation = "|".join(f"(?:{p.pattern})" for p in pats) if pats else None
    return Rule(
        id=rule_id,
        title=_string(ctx, spec, "title"),
        category=_enum(ctx, spec, "category", Category),
        source=f"{_string(ctx, spec, 'source')} (version {pkg_version})",
        checked=_date(ctx, spec),
        match=Conditions(user_agent=alternation, user_agent_case_sensitive=True),
        action=_enum(ctx, spec, "action", Action) if "action" in spec else None,
        references=_string_list(ctx, spec, "references"),
        clause=_opt_string(ctx, spec, "clause"),
        file=file,
        curated=False,
        catchall=pats,
        catchall_stats=stats,
    )
