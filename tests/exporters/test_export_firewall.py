"""nftables and ipset exports loaded by the real tools, inside a private network namespace.

`unshare -rn` gives the test its own network stack (and root inside it), so loading sets
and rules never touches the machine's firewall. Where unshare is not allowed (some CI
containers) the tests skip and only the golden files cover these formats.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from export_frames import OPTIONS, SCAN, frame, offender

from scraperwatch.exporters import ExportFormat, ExportOptions, render_export

SEARCH = "/usr/sbin:/sbin:/usr/bin:/bin"


@cache
def netns_ok() -> bool:
    if shutil.which("unshare") is None:
        return False
    proc = subprocess.run(["unshare", "-rn", "true"], capture_output=True, check=False)
    return proc.returncode == 0


def needs(tool: str) -> pytest.MarkDecorator:
    missing = shutil.which(tool, path=SEARCH) is None
    return pytest.mark.skipif(
        missing or not netns_ok(),
        reason=f"{tool} or an unprivileged network namespace is unavailable",
    )


def in_netns(script: str, *, timeout: float = 60) -> str:
    """Run a shell script in a fresh network namespace; its stdout, or fail with its output."""
    proc = subprocess.run(
        ["unshare", "-rn", "sh", "-ec", f"export PATH={SEARCH}:$PATH\n{script}"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def plain(offenders: object, options: ExportOptions) -> list[str]:
    text = render_export(ExportFormat.PLAIN, offenders, options)  # type: ignore[arg-type]
    return [line for line in text.splitlines() if not line.startswith("#")]


def nft_elements(listing: str) -> list[str]:
    out = []
    for item in json.loads(listing)["nftables"]:
        for elem in item.get("set", {}).get("elem", []):
            if isinstance(elem, str):
                out.append(elem)
            else:
                out.append(f"{elem['prefix']['addr']}/{elem['prefix']['len']}")
    return out


SMALLER = frame(offender("203.0.113.4"), offender("2001:db8:2:3::/64"))


@needs("nft")
def test_nft_loads_and_reloads_retire_entries(tmp_path: Path) -> None:
    first = tmp_path / "first.nft"
    second = tmp_path / "second.nft"
    empty = tmp_path / "empty.nft"
    first.write_text(render_export(ExportFormat.NFTABLES, SCAN, OPTIONS))
    second.write_text(render_export(ExportFormat.NFTABLES, SMALLER, OPTIONS))
    empty.write_text(render_export(ExportFormat.NFTABLES, frame(), ExportOptions()))
    out = in_netns(
        f"""
        nft -c -f {first}
        nft -f {first}
        nft -f {first}   # loading twice is harmless
        nft -j list set inet scraperwatch block_v4; echo
        nft -j list set inet scraperwatch block_v6; echo '=='
        nft -f {second}
        nft -j list set inet scraperwatch block_v4; echo
        nft -j list set inet scraperwatch block_v6; echo '=='
        nft -f {empty}
        nft -j list set inet scraperwatch block_v4
        """
    )
    first_lists, second_lists, empty_list = out.split("==")
    loaded = [
        e for listing in first_lists.split("\n") if listing.strip() for e in nft_elements(listing)
    ]
    assert loaded == plain(SCAN, OPTIONS)
    reloaded = [
        e for listing in second_lists.split("\n") if listing.strip() for e in nft_elements(listing)
    ]
    assert reloaded == ["203.0.113.4", "2001:db8:2:3::/64"]
    assert nft_elements(empty_list.strip()) == []


@needs("ipset")
def test_ipset_restore_swaps_sets(tmp_path: Path) -> None:
    first = tmp_path / "first.ipset"
    second = tmp_path / "second.ipset"
    first.write_text(render_export(ExportFormat.IPSET, SCAN, OPTIONS))
    second.write_text(render_export(ExportFormat.IPSET, SMALLER, OPTIONS))
    out = in_netns(
        f"""
        ipset restore < {first}
        ipset restore < {first}
        ipset save; echo '=='
        ipset test scraperwatch_v4 100.24.0.200 2>&1
        ipset restore < {second}
        ipset save
        """
    )
    before, after = out.split("==")
    adds = [line.split()[2] for line in before.splitlines() if line.startswith("add ")]
    assert sorted(adds) == sorted(plain(SCAN, OPTIONS))  # a hash set: no order
    assert "scraperwatch_v4_new" not in out.replace("create scraperwatch_v4_new", "")
    lines = [line for line in after.splitlines() if line.startswith(("add ", "create "))]
    assert [line.split()[1] for line in lines if line.startswith("create")] == [
        "scraperwatch_v4",
        "scraperwatch_v6",
    ]
    assert [line.split(maxsplit=2)[1:] for line in lines if line.startswith("add")] == [
        ["scraperwatch_v4", "203.0.113.4"],
        ["scraperwatch_v6", "2001:db8:2:3::/64"],
    ]


@needs("nft")
@pytest.mark.server
def test_nft_set_drops_blocked_source(tmp_path: Path) -> None:
    """The set with the documented rule: a blocked 127.x client gets no answer, another does."""
    sets = tmp_path / "scraperwatch.nft"
    options = ExportOptions(allow_private=False)
    sets.write_text(render_export(ExportFormat.NFTABLES, frame(offender("127.0.0.5")), options))
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parents[1])!r})\n"
        "from servers import http_get, run_backend\n"
        "with run_backend() as b:\n"
        "    for src in ('127.0.0.6', '127.0.0.5'):\n"
        "        try:\n"
        "            r = http_get(b.port, '/', source=src, timeout=1.0)\n"
        "            print(src, r.status if r else 'closed')\n"
        "        except OSError:\n"
        "            print(src, 'timeout')\n"
    )
    out = in_netns(
        f"""
        ip link set lo up
        nft -f {sets}
        nft add chain inet scraperwatch input '{{ type filter hook input priority -10; }}'
        nft add rule inet scraperwatch input ip saddr @block_v4 drop
        nft add rule inet scraperwatch input ip6 saddr @block_v6 drop
        {sys.executable} {probe}
        """
    )
    assert out.split("\n")[:2] == ["127.0.0.6 200", "127.0.0.5 timeout"]
