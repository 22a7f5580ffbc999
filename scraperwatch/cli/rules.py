"""Command line: `scraperwatch rules list|check|test`, the detection rules and what they match."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from scraperwatch import console
from scraperwatch import schema as s
from scraperwatch.cli.base import app, guarded
from scraperwatch.detect.match import Match, explain
from scraperwatch.detect.policy import Policy, load_policy
from scraperwatch.detect.rulefile import Rule, RuleSet, load_rule_texts, load_ruleset, rule_texts
from scraperwatch.errors import RuleFileError
from scraperwatch.schema import Category

rules_app = typer.Typer(
    name="rules",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="The detection rules: list them, check rule files, test a user agent or a log line.",
)
app.add_typer(rules_app, name="rules")


class ListFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


RulesDirsOpt = Annotated[
    list[Path] | None,
    typer.Option("--rules", help="A folder of extra rule files (*.toml); repeatable."),
]
PolicyNameOpt = Annotated[
    str | None,
    typer.Option(
        "--policy", help="A shipped policy name (default: mastodon-social) or a policy file."
    ),
]
FormatOpt = Annotated[ListFormat, typer.Option("--format", help="table or json (on stdout).")]


def _action(rule: Rule, policy: Policy) -> str:
    if rule.action is not None:
        return f"{rule.action.value} (rule)"
    return policy.action_for(rule.category).value


@rules_app.command("list")
@guarded
def list_rules(
    rules: RulesDirsOpt = None,
    category: Annotated[
        Category | None, typer.Option("--category", "-c", help="Only rules of this category.")
    ] = None,
    policy: PolicyNameOpt = None,
    fmt: FormatOpt = ListFormat.TABLE,
) -> None:
    """List the rules (shipped, then --rules folders), with the action the policy gives each."""
    ruleset = load_ruleset(rules or ())
    pol = load_policy(policy)
    chosen = [r for r in ruleset.rules if category is None or r.category is category]
    if fmt is ListFormat.JSON:
        out: dict[str, Any] = {
            "digest": ruleset.digest,
            "policy": pol.name,
            "rules": [
                {
                    **r.to_dict(),
                    "effective_action": _action(r, pol).split(" ")[0],
                    "file": Path(r.file).name,
                }
                for r in chosen
            ],
        }
        catchall = ruleset.catchall
        if catchall is not None and catchall.catchall_stats is not None:
            st = catchall.catchall_stats
            out["catchall"] = {
                "package_version": st.package_version,
                "patterns": st.total,
                "kept": st.kept,
                "invalid": list(st.invalid),
                "excluded": list(st.excluded),
                "protected": list(st.protected),
            }
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    rows = [
        (
            r.id,
            r.category.value,
            _action(r, pol),
            ", ".join(r.tokens) or "-",
            r.title,
            Path(r.file).name,
        )
        for r in chosen
    ]
    console.table(None, ["id", "category", "action", "token", "title", "file"], rows)
    console.info(f"{len(rows)} rules (rule set {ruleset.digest[:16]}, policy {pol.name})")


@rules_app.command("check")
@guarded
def check_rules(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="A folder of rule files, or one rule file, checked together with the shipped rules."
        ),
    ] = None,
    rules: RulesDirsOpt = None,
    policy: PolicyNameOpt = None,
) -> None:
    """Validate rule files (and the policy); print the rule counts. Exit 3 on the first error."""
    dirs = list(rules or ())
    if path is not None and path.is_file():
        ruleset = _load_with_file(dirs, path)
    else:
        if path is not None:
            dirs.append(path)
        ruleset = load_ruleset(dirs)
    pol = load_policy(policy)
    counts = Counter(r.category.value for r in ruleset.rules)
    rows = [
        (cat.value, counts.get(cat.value, 0), pol.action_for(cat).value)
        for cat in Category
        if counts.get(cat.value, 0)
    ]
    console.table(None, ["category", "rules", "action"], rows)
    catchall = ruleset.catchall
    note = ""
    if catchall is not None and catchall.catchall_stats is not None:
        st = catchall.catchall_stats
        note = (
            f"; catch-all {catchall.id}: {st.kept} of {st.total} crawler-user-agents {st.package_version} "
            f"patterns kept ({len(st.invalid)} do not compile, {len(st.excluded)} excluded, "
            f"{len(st.protected)} match protected user agents)"
        )
    console.info(
        f"ok: {len(ruleset.rules)} rules from {len(ruleset.files)} files, policy {pol.name}, "
        f"rule set {ruleset.digest[:16]}{note}"
    )


def _load_with_file(dirs: list[Path], file: Path) -> RuleSet:
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise RuleFileError(
            f"{file}: not UTF-8 ({err.reason} at byte {err.start}); save it as UTF-8"
        ) from None
    except OSError as err:
        raise RuleFileError(f"{file}: cannot be read ({err.strerror})") from None
    return load_rule_texts([*rule_texts(dirs), (str(file), text)])


@rules_app.command("test")
@guarded
def try_rules(
    text: Annotated[
        str, typer.Argument(help="A user agent, or a whole nginx `combined` log line.")
    ],
    rules: RulesDirsOpt = None,
    policy: PolicyNameOpt = None,
    fmt: FormatOpt = ListFormat.TABLE,
) -> None:
    """Say which rules match a user agent or a log line, and why, condition by condition."""
    ruleset = load_ruleset(rules or ())
    pol = load_policy(policy)
    request = parse_combined_line(text)
    if request is not None:
        kind = "log line"
        matches = explain(request, ruleset)
    else:
        kind = "user agent"
        request = {s.USER_AGENT: text}
        matches = explain(request, ruleset, present={s.USER_AGENT}, include_partial=True)
    if fmt is ListFormat.JSON:
        typer.echo(json.dumps(_json(kind, request, matches, pol), indent=2, ensure_ascii=False))
        return
    console.info(f"input: {kind}")
    if not matches:
        console.info("no rule matches: to the rules this is a browser or an unknown client")
        return
    rows = []
    for m in matches:
        state = "match (primary)" if m.primary else "match" if m.matched else "needs a request"
        why = "; ".join(_condition_text(c.field, c.expected, c.ok) for c in m.conditions)
        if m.detail:
            why = f"{why}; {m.detail}"
        rows.append((m.rule.id, m.rule.category.value, _action(m.rule, pol), state, why))
    console.table(None, ["rule", "category", "action", "result", "why"], rows)


def _condition_text(fieldname: str, expected: str, ok: bool | None) -> str:
    mark = {True: "yes", False: "no", None: "not in the input"}[ok]
    return f"{fieldname} ~ {expected}: {mark}"


def _json(kind: str, request: dict[str, Any], matches: list[Match], pol: Policy) -> dict[str, Any]:
    return {
        "input": kind,
        "request": {
            k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in request.items()
        },
        "matches": [
            {
                "rule": m.rule.id,
                "category": m.rule.category.value,
                "action": _action(m.rule, pol).split(" ")[0],
                "primary": m.primary,
                "matched": m.matched,
                "detail": m.detail,
                "conditions": [
                    {"field": c.field, "expected": c.expected, "value": c.value, "ok": c.ok}
                    for c in m.conditions
                ],
            }
            for m in matches
        ],
    }


def parse_combined_line(line: str) -> dict[str, Any] | None:
    """The canonical fields of one log line in any format the readers know, or None.

    The name is historical: nginx formats (combined, main, vhost ...) and Caddy JSON lines are
    all recognised, by the same readers and sniffing as `ingest` and `scan`.
    """
    from scraperwatch.errors import LogSourceError
    from scraperwatch.sources import sniff
    from scraperwatch.sources.fields import LINE, REASON, ROW

    try:
        found = sniff([line], name="<line>")
    except LogSourceError:
        return None
    frame = pl.LazyFrame({LINE: [line], ROW: [1]})
    parsed = found.source.parse(frame).collect()
    if parsed[REASON][0] is not None:
        return None
    row = parsed.row(0, named=True)
    client = row.get("_caddy_client") or row.get(s.PEER_IP)
    return {
        **{
            k: row.get(k)
            for k in (
                s.TS,
                s.METHOD,
                s.PATH,
                s.QUERY,
                s.PROTOCOL,
                s.REQUEST,
                s.STATUS,
                s.BYTES_SENT,
                s.REFERER,
                s.USER_AGENT,
                s.HOST,
            )
        },
        s.CLIENT_IP: client,
    }
