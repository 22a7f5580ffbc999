"""Corpus stage: the model of the site: its accounts, statuses, tags and fixed paths.

Deterministic for a seed; website.py turns it into files.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

DOMAIN = "social.example"
CANARY = "/hidden-canary-7f3a/"
SITE_SOURCES = Path(__file__).parent / "site"

# The stylesheet and scripts have content hashes in their names, as Mastodon's webpack packs do.
CSS = "/packs/css/common-3f2a9c1e.css"
JS_COMMON = "/packs/js/common-9b1c7e2d.js"
JS_PUBLIC = "/packs/js/public-7d1e4f0a.js"
FONT = "/packs/media/fonts/roboto-regular-400-5b4a7c.woff2"
LOGO = "/packs/media/images/logo-4d9f0b.svg"
TOUCH_ICON = "/packs/media/icons/apple-touch-icon-180x180-a1b2c3.png"
FAVICON = "/favicon.ico"
MANIFEST = "/manifest.json"

USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")
TAGS = (
    "fediverse",
    "photography",
    "cats",
    "gardening",
    "opensource",
    "music",
    "books",
    "cycling",
    "linux",
    "coffee",
)
REMOTE_HOSTS = ("mastodon.example", "fosstodon.example", "chaos.example", "mstdn.example")
LOCAL_STATUSES = 200
TIMELINE_STATUSES = 800  # the public timeline also carries remote statuses (JSON only)
PAGE_SIZE = 20  # statuses per API page (the server ignores `limit`, like a real default)
ID_BASE = 110_000_000_000_000_000
ID_STEP = 4096
START = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)

_TEXT = (
    "the garden is finally waking up after a long week of rain and I spent the morning "
    "repotting tomatoes while the cat supervised from the windowsill then I fixed a bug in "
    "the release script and rode to the market for coffee beans new album on repeat all day "
    "reading a novel about lighthouses and tidal maps the kernel update went fine on every "
    "machine except the old laptop which refuses to suspend photos from the ridge at dawn "
    "fog in the valley below bread dough rising on the radiator"
)
_WORDS = _TEXT.split()


@dataclass(frozen=True)
class Account:
    username: str
    acct_id: str
    display_name: str
    note: str
    local: bool = True
    host: str = DOMAIN

    @property
    def profile_path(self) -> str:
        return f"/@{self.username}"

    @property
    def avatar(self) -> str:
        return f"/system/accounts/avatars/{self.acct_id}/original/avatar.png"

    @property
    def header(self) -> str:
        return f"/system/accounts/headers/{self.acct_id}/original/header.png"


@dataclass(frozen=True)
class Status:
    id: str
    account: Account
    created_at: datetime
    text: str
    tags: tuple[str, ...]
    media: bool

    @property
    def path(self) -> str:
        return f"/@{self.account.username}/{self.id}"

    @property
    def ap_path(self) -> str:
        return f"/users/{self.account.username}/statuses/{self.id}"

    @property
    def media_small(self) -> str:
        return f"/system/media_attachments/files/{self.id}/small/image.png"

    @property
    def media_original(self) -> str:
        return f"/system/media_attachments/files/{self.id}/original/image.png"


@dataclass
class Site:
    """The files of the site and what the clients need to know about it."""

    files: dict[str, bytes]
    accounts: list[Account]
    statuses: list[Status]  # local statuses, oldest first
    timeline: list[Status]  # local and remote, oldest first
    tags: tuple[str, ...]
    pages: list[str]  # every HTML page a crawler can reach by links
    robots_txt: str
    media_proxy: list[str] = field(default_factory=list)

    def account(self, username: str) -> Account:
        return next(a for a in self.accounts if a.username == username)

    def statuses_of(self, username: str) -> list[Status]:
        return [s for s in self.statuses if s.account.username == username]


# --- the model -------------------------------------------------------------------------------
def _sentence(rng: random.Random, n: int) -> str:
    start = rng.randrange(len(_WORDS) - n)
    return " ".join(_WORDS[start : start + n]).capitalize() + "."


def _accounts() -> list[Account]:
    out = []
    for i, name in enumerate(USERS, start=1):
        out.append(
            Account(
                username=name,
                acct_id=str(109_000_000_000_000_000 + i * 1237),
                display_name=name.capitalize(),
                note=f"{name.capitalize()} posts about {TAGS[i % len(TAGS)]} and "
                f"{TAGS[(i * 3) % len(TAGS)]}.",
            )
        )
    return out


def _remote_accounts() -> list[Account]:
    names = ("kim", "lou", "max", "nia", "oli", "pat", "quinn", "ray", "sam", "tess", "uma", "vic")
    return [
        Account(
            username=name,
            acct_id=str(108_000_000_000_000_000 + i * 977),
            display_name=name.capitalize(),
            note="",
            local=False,
            host=REMOTE_HOSTS[i % len(REMOTE_HOSTS)],
        )
        for i, name in enumerate(names, start=1)
    ]


def _statuses(rng: random.Random, accounts: list[Account]) -> list[Status]:
    remote = _remote_accounts()
    local_slots = set(rng.sample(range(TIMELINE_STATUSES), LOCAL_STATUSES))
    weights = [8, 5, 4, 3, 3, 2, 2, 1][: len(accounts)]
    out = []
    for k in range(TIMELINE_STATUSES):
        local = k in local_slots
        account = rng.choices(accounts, weights)[0] if local else rng.choice(remote)
        tags = tuple(sorted(rng.sample(TAGS, rng.choice((0, 1, 1, 2)))))
        text = " ".join(_sentence(rng, rng.randint(6, 16)) for _ in range(rng.randint(1, 3)))
        out.append(
            Status(
                id=str(ID_BASE + k * ID_STEP),
                account=account,
                created_at=START - timedelta(minutes=11 * (TIMELINE_STATUSES - k)),
                text=text,
                tags=tags,
                media=local and rng.random() < 0.3,
            )
        )
    return out


def make_model(seed: int) -> tuple[list[Account], list[Status]]:
    """The local accounts and the public timeline (local and remote statuses, oldest first)."""
    rng = random.Random(seed)
    accounts = _accounts()
    return accounts, _statuses(rng, accounts)
