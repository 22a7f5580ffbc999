"""Detection stage, policy: the instance's terms as a file, mapping categories to actions.

A policy maps every schema.Category to an Action (block, watch, allow) and the clause of the terms
it concerns, and carries an allowlist (addresses, CIDRs, user-agent patterns) that always wins.
Shipped policies live in rules/policies/*.toml; the default is `mastodon-social`.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import ipaddress
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Final

import polars as pl

from scraperwatch import schema
from scraperwatch.detect.match import address_in_networks, ip_in_networks
from scraperwatch.detect.rulefile import SHIPPED_PACKAGE, regex_error
from scraperwatch.errors import RuleFileError
from scraperwatch.schema import Action, Category

DEFAULT_POLICY: Final = "mastodon-social"

# Never offenders unless the policy says allow_private = false: loopback, RFC 1918 private,
# RFC 6598 shared (CGNAT), link-local, and IPv6 unique-local and link-local.
PRIVATE_NETWORKS: Final[tuple[str, ...]] = (
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
)

POLICY_KEYS: Final = frozenset(
    {"name", "title", "terms", "effective", "checked", "source", "allow_private", "extends"}
)
TOP_KEYS: Final = frozenset({"policy", "category", "allowlist"})
CATEGORY_KEYS: Final = frozenset({"action", "clause"})
ALLOWLIST_KEYS: Final = frozenset({"addresses", "user_agents"})


@dataclass(frozen=True)
class CategoryPolicy:
    action: Action
    clause: str


@dataclass(frozen=True)
class Policy:
    """The terms of an instance: an action and a clause per category, and an allowlist."""

    name: str
    title: str
    terms: str | None
    categories: Mapping[Category, CategoryPolicy]
    allow_addresses: tuple[str, ...] = ()
    allow_user_agents: tuple[str, ...] = ()
    allow_private: bool = True
    effective: dt.date | None = None
    file: str = ""
    _networks: tuple[str, ...] = field(default=(), repr=False)

    def action_for(self, category: Category | str) -> Action:
        return self.categories[Category(category)].action

    def clause_for(self, category: Category | str) -> str:
        return self.categories[Category(category)].clause

    @property
    def networks(self) -> tuple[str, ...]:
        """Every allowlisted address and CIDR, the private ranges included when allowed."""
        return self._networks

    def allowlist_expr(self) -> pl.Expr:
        """True where a row's client_ip or user_agent is allowlisted (null-safe)."""
        expr = ip_in_networks(schema.CLIENT_IP, self.networks)
        if self.allow_user_agents:
            alternation = "|".join(f"(?:{p})" for p in self.allow_user_agents)
            expr = expr | pl.col(schema.USER_AGENT).str.contains("(?i)" + alternation).fill_null(
                False
            )
        return expr

    def is_allowlisted(self, ip: str, ua: str | None) -> bool:
        """The same test as allowlist_expr, for one client."""
        if ip and address_in_networks(ip, self.networks):
            return True
        if ua and self.allow_user_agents:
            alternation = "|".join(f"(?:{p})" for p in self.allow_user_agents)
            return bool(pl.select(pl.lit(ua).str.contains("(?i)" + alternation)).item())
        return False


def shipped_policies_dir() -> Traversable:
    try:
        root = importlib.resources.files(SHIPPED_PACKAGE).joinpath("policies")
        if root.is_dir():
            return root
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        pass
    return Path(__file__).resolve().parents[2] / "rules" / "policies"


def shipped_policy_names() -> list[str]:
    return sorted(
        p.name.removesuffix(".toml")
        for p in shipped_policies_dir().iterdir()
        if p.name.endswith(".toml")
    )


def load_policy(
    name_or_path: str | Path | None = None,
    *,
    allow_private: bool | None = None,
    extra: Sequence[str] = (),
) -> Policy:
    """Load a shipped policy by name, or a policy file by path (None: the default policy).

    `allow_private` overrides the file's setting for the private-range allowlist; `extra` adds
    addresses or CIDRs to the allowlist. Raises RuleFileError with the file, key and fix.
    """
    raw, file = _read_policy(name_or_path if name_or_path is not None else DEFAULT_POLICY, ())
    return _build(raw, file, allow_private=allow_private, extra=extra)


def _read_policy(name_or_path: str | Path, chain: tuple[str, ...]) -> tuple[dict[str, Any], str]:
    """Read a policy file, resolving `extends` (the parent's tables, then this file's on top)."""
    text, file = _policy_text(name_or_path)
    if file in chain:
        raise RuleFileError(
            f"{file}: `policy.extends` makes a loop ({' -> '.join((*chain, file))}); remove one"
        )
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise RuleFileError(f"{file}: not valid TOML: {err}; fix the syntax there") from None
    for key in doc:
        if key not in TOP_KEYS:
            raise RuleFileError(
                f"{file}: unknown top-level key `{key}`; a policy has [policy], [category.NAME] and [allowlist]"
            )
    head = doc.get("policy", {})
    if not isinstance(head, dict):
        raise RuleFileError(f"{file}: `policy` must be a table; write [policy]")
    parent = head.get("extends")
    if parent is None:
        return doc, file
    if not isinstance(parent, str):
        raise RuleFileError(
            f'{file}: `policy.extends` must be a policy name or path; write extends = "{DEFAULT_POLICY}"'
        )
    base, _ = _read_policy(_relative(parent, file), (*chain, file))
    merged: dict[str, Any] = {
        "policy": {**{k: v for k, v in base.get("policy", {}).items() if k != "extends"}, **head},
        "category": {**base.get("category", {}), **doc.get("category", {})},
        "allowlist": _merge_allowlists(base.get("allowlist", {}), doc.get("allowlist", {})),
    }
    return merged, file


def _relative(parent: str, file: str) -> str | Path:
    if parent.endswith(".toml") and not Path(parent).is_absolute():
        return Path(file).parent / parent
    return parent


def _merge_allowlists(a: Any, b: Any) -> dict[str, Any]:
    if not isinstance(a, dict) or not isinstance(b, dict):
        return b if isinstance(b, dict) else {}
    return {k: [*a.get(k, []), *b.get(k, [])] for k in ALLOWLIST_KEYS if k in a or k in b}


def _policy_text(name_or_path: str | Path) -> tuple[str, str]:
    path = Path(name_or_path)
    is_path = isinstance(name_or_path, Path) or path.suffix == ".toml" or "/" in str(name_or_path)
    if is_path:
        if not path.is_file():
            raise RuleFileError(
                f"{path}: no such policy file; give a path to a .toml policy or one of: {', '.join(shipped_policy_names())}"
            )
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except (OSError, UnicodeDecodeError) as err:
            raise RuleFileError(f"{path}: cannot be read ({err}); save it as UTF-8 text") from None
    entry = shipped_policies_dir().joinpath(f"{name_or_path}.toml")
    if not entry.is_file():
        raise RuleFileError(
            f"unknown policy {str(name_or_path)!r}; use one of: {', '.join(shipped_policy_names())}, or a path to a .toml file"
        )
    return entry.read_text(encoding="utf-8"), str(entry)


def _build(
    raw: Mapping[str, Any], file: str, *, allow_private: bool | None, extra: Sequence[str]
) -> Policy:
    head = raw.get("policy", {})
    for key in head:
        if key not in POLICY_KEYS:
            raise RuleFileError(
                f"{file}: `policy.{key}` is not a policy setting; use one of {', '.join(sorted(POLICY_KEYS))}"
            )
    name = head.get("name")
    if not isinstance(name, str) or not name:
        raise RuleFileError(
            f'{file}: `policy.name` is missing; write name = "my-instance" under [policy]'
        )
    private_setting = head.get("allow_private", True)
    if not isinstance(private_setting, bool):
        raise RuleFileError(f"{file}: `policy.allow_private` must be true or false")
    effective = head.get("effective")
    if effective is not None and not isinstance(effective, dt.date):
        raise RuleFileError(
            f"{file}: `policy.effective` must be a date, e.g. effective = 2025-07-01"
        )

    table = raw.get("category", {})
    if not isinstance(table, dict):
        raise RuleFileError(f"{file}: `category` must hold tables; write [category.ai-training]")
    allowed = [c.value for c in Category]
    categories: dict[Category, CategoryPolicy] = {}
    for key, value in table.items():
        if key not in allowed:
            raise RuleFileError(
                f"{file}: [category.{key}] is not a category; use one of {', '.join(allowed)}"
            )
        if not isinstance(value, dict):
            raise RuleFileError(f"{file}: [category.{key}] must be a table with action and clause")
        for sub in value:
            if sub not in CATEGORY_KEYS:
                raise RuleFileError(
                    f"{file}: `category.{key}.{sub}` is not a setting; use action and clause"
                )
        action = value.get("action")
        if action not in [a.value for a in Action]:
            raise RuleFileError(
                f"{file}: `category.{key}.action` is {action!r}; use one of {', '.join(a.value for a in Action)}"
            )
        clause = value.get("clause")
        if not isinstance(clause, str) or not clause.strip():
            raise RuleFileError(
                f'{file}: `category.{key}.clause` is missing; quote the terms clause the action rests on, clause = "..."'
            )
        categories[Category(key)] = CategoryPolicy(Action(action), clause)
    missing = [c.value for c in Category if c not in categories]
    if missing:
        raise RuleFileError(
            f"{file}: no action for {', '.join(missing)}; add a [category.NAME] table with action and clause "
            f'for each (or write extends = "{DEFAULT_POLICY}" under [policy] to inherit them)'
        )

    allow = raw.get("allowlist", {})
    if not isinstance(allow, dict):
        raise RuleFileError(f"{file}: `allowlist` must be a table; write [allowlist]")
    for key in allow:
        if key not in ALLOWLIST_KEYS:
            raise RuleFileError(
                f"{file}: `allowlist.{key}` is not a setting; use addresses and user_agents"
            )
    addresses = _str_list(allow.get("addresses", []), file, "allowlist.addresses")
    addresses = (*addresses, *extra)
    for entry in addresses:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise RuleFileError(
                f'{file}: allowlist address {entry!r} is not an address or CIDR; write e.g. "192.0.2.7" or "2001:db8::/32"'
            ) from None
    user_agents = _str_list(allow.get("user_agents", []), file, "allowlist.user_agents")
    for pattern in user_agents:
        problem = regex_error(pattern)
        if problem is not None:
            raise RuleFileError(
                f"{file}: allowlist user agent {pattern!r} is not a valid regex ({problem}); escape ( ) [ ] . + ? *"
            )
    private = private_setting if allow_private is None else allow_private
    networks = tuple(dict.fromkeys((*(PRIVATE_NETWORKS if private else ()), *addresses)))
    return Policy(
        name=name,
        title=str(head.get("title", name)),
        terms=head.get("terms") if isinstance(head.get("terms"), str) else None,
        categories=categories,
        allow_addresses=tuple(addresses),
        allow_user_agents=tuple(user_agents),
        allow_private=private,
        effective=effective,
        file=file,
        _networks=networks,
    )


def _str_list(value: Any, file: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RuleFileError(
            f'{file}: `{key}` must be a list of strings; write {key.split(".")[-1]} = ["..."]'
        )
    return tuple(value)
