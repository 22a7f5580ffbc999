"""Corpus stage: the site's JSON: Mastodon's REST API and ActivityPub documents as files."""

from __future__ import annotations

import html
import json
from datetime import datetime
from typing import Any

from sitemodel import DOMAIN, PAGE_SIZE, TAGS, Account, Status


# --- JSON: Mastodon REST API and ActivityPub -------------------------------------------------
def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _account_json(a: Account) -> dict[str, Any]:
    base = f"https://{a.host}"
    return {
        "id": a.acct_id,
        "username": a.username,
        "acct": a.username if a.local else f"{a.username}@{a.host}",
        "display_name": a.display_name,
        "locked": False,
        "bot": False,
        "note": f"<p>{html.escape(a.note)}</p>",
        "url": f"{base}/@{a.username}",
        "uri": f"{base}/users/{a.username}",
        "avatar": f"https://{DOMAIN}{a.avatar}",
        "header": f"https://{DOMAIN}{a.header}",
        "followers_count": 120,
        "following_count": 87,
        "statuses_count": 25,
    }


def _content(s: Status) -> str:
    tags = " ".join(
        f'<a href="https://{DOMAIN}/tags/{t}" class="mention hashtag" rel="tag">#<span>{t}</span></a>'
        for t in s.tags
    )
    return f"<p>{html.escape(s.text)} {tags}</p>".replace(" </p>", "</p>")


def _status_json(s: Status) -> dict[str, Any]:
    a = s.account
    media = []
    if s.media:
        media.append(
            {
                "id": s.id,
                "type": "image",
                "url": f"https://{DOMAIN}{s.media_original}",
                "preview_url": f"https://{DOMAIN}{s.media_small}",
                "description": "A photo.",
            }
        )
    return {
        "id": s.id,
        "created_at": _iso(s.created_at),
        "visibility": "public",
        "language": "en",
        "uri": f"https://{a.host}/users/{a.username}/statuses/{s.id}",
        "url": f"https://{a.host}/@{a.username}/{s.id}",
        "replies_count": 0,
        "reblogs_count": 1,
        "favourites_count": 3,
        "content": _content(s),
        "account": _account_json(a),
        "media_attachments": media,
        "tags": [{"name": t, "url": f"https://{DOMAIN}/tags/{t}"} for t in s.tags],
    }


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _paginate(prefix: str, newest_first: list[Status], files: dict[str, bytes]) -> None:
    """Mastodon `max_id` pagination as files: `p-.json` (first page), `p-<max_id>.json`, and an
    empty page after the last one, so that a client walking max_id stops as it would on a
    real instance."""
    max_id = ""
    for i in range(0, len(newest_first), PAGE_SIZE):
        page = newest_first[i : i + PAGE_SIZE]
        files[f"{prefix}/p-{max_id}.json"] = _dump([_status_json(s) for s in page])
        max_id = page[-1].id
    files[f"{prefix}/p-{max_id}.json"] = b"[]"


def _outbox(username: str, newest_first: list[Status], files: dict[str, bytes]) -> None:
    base = f"https://{DOMAIN}/users/{username}"
    prefix = f"users/{username}/outbox"
    files[f"{prefix}/-.json"] = _dump(
        {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{base}/outbox",
            "type": "OrderedCollection",
            "totalItems": len(newest_first),
            "first": f"{base}/outbox?page=true",
            "last": f"{base}/outbox?min_id=0&page=true",
        }
    )
    max_id = ""
    for i in range(0, len(newest_first), PAGE_SIZE):
        page = newest_first[i : i + PAGE_SIZE]
        files[f"{prefix}/true-{max_id}.json"] = _dump(
            {
                "@context": "https://www.w3.org/ns/activitystreams",
                "id": f"{base}/outbox?page=true" + (f"&max_id={max_id}" if max_id else ""),
                "type": "OrderedCollectionPage",
                "next": f"{base}/outbox?max_id={page[-1].id}&page=true",
                "partOf": f"{base}/outbox",
                "orderedItems": [
                    {
                        "id": f"{base}/statuses/{s.id}/activity",
                        "type": "Create",
                        "actor": base,
                        "object": _note_json(s),
                    }
                    for s in page
                ],
            }
        )
        max_id = page[-1].id
    files[f"{prefix}/true-{max_id}.json"] = _dump(
        {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{base}/outbox?max_id={max_id}&page=true",
            "type": "OrderedCollectionPage",
            "partOf": f"{base}/outbox",
            "orderedItems": [],
        }
    )


def _note_json(s: Status) -> dict[str, Any]:
    base = f"https://{DOMAIN}/users/{s.account.username}"
    return {
        "id": f"{base}/statuses/{s.id}",
        "type": "Note",
        "attributedTo": base,
        "published": _iso(s.created_at),
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "cc": [f"{base}/followers"],
        "url": f"https://{DOMAIN}{s.path}",
        "content": _content(s),
        "tag": [{"type": "Hashtag", "name": f"#{t}"} for t in s.tags],
    }


def _actor_json(a: Account) -> dict[str, Any]:
    base = f"https://{DOMAIN}/users/{a.username}"
    return {
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": base,
        "type": "Person",
        "preferredUsername": a.username,
        "name": a.display_name,
        "summary": f"<p>{html.escape(a.note)}</p>",
        "url": f"https://{DOMAIN}/@{a.username}",
        "inbox": f"{base}/inbox",
        "outbox": f"{base}/outbox",
        "followers": f"{base}/followers",
        "following": f"{base}/following",
        "featured": f"{base}/collections/featured",
        "endpoints": {"sharedInbox": f"https://{DOMAIN}/inbox"},
        "publicKey": {
            "id": f"{base}#main-key",
            "owner": base,
            "publicKeyPem": "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\n"
            "-----END PUBLIC KEY-----\n",
        },
        "icon": {"type": "Image", "url": f"https://{DOMAIN}{a.avatar}"},
    }


def federation_files(site_accounts: list[Account], local: list[Status]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for a in site_accounts:
        mine = [s for s in reversed(local) if s.account == a]
        base = f"https://{DOMAIN}/users/{a.username}"
        files[f"users/{a.username}.json"] = _dump(_actor_json(a))
        _outbox(a.username, mine, files)
        for s in mine:
            files[f"users/{a.username}/statuses/{s.id}.json"] = _dump(
                {"@context": "https://www.w3.org/ns/activitystreams", **_note_json(s)}
            )
        for coll in ("followers", "following", "collections/featured"):
            files[f"users/{a.username}/{coll}.json"] = _dump(
                {
                    "@context": "https://www.w3.org/ns/activitystreams",
                    "id": f"{base}/{coll}",
                    "type": "OrderedCollection",
                    "totalItems": 0,
                    "orderedItems": [],
                }
            )
        files[f".well-known/webfinger/acct:{a.username}@{DOMAIN}.json"] = _dump(
            {
                "subject": f"acct:{a.username}@{DOMAIN}",
                "aliases": [base, f"https://{DOMAIN}/@{a.username}"],
                "links": [
                    {
                        "rel": "http://webfinger.net/rel/profile-page",
                        "type": "text/html",
                        "href": f"https://{DOMAIN}/@{a.username}",
                    },
                    {"rel": "self", "type": "application/activity+json", "href": base},
                ],
            }
        )
    files[".well-known/nodeinfo.json"] = _dump(
        {
            "links": [
                {
                    "rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
                    "href": f"https://{DOMAIN}/nodeinfo/2.0",
                }
            ]
        }
    )
    files["nodeinfo/2.0.json"] = _dump(
        {
            "version": "2.0",
            "software": {"name": "mastodon", "version": "4.3.2"},
            "protocols": ["activitypub"],
            "services": {"outbound": [], "inbound": []},
            "usage": {"users": {"total": len(site_accounts)}, "localPosts": len(local)},
            "openRegistrations": False,
            "metadata": {"nodeName": DOMAIN},
        }
    )
    return files


def api_files(
    accounts: list[Account], local: list[Status], timeline: list[Status]
) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    instance = {
        "uri": DOMAIN,
        "domain": DOMAIN,
        "title": "social.example",
        "version": "4.3.2",
        "description": "A small instance for people who like gardens, cats and Linux.",
        "registrations": {"enabled": False},
        "rules": [{"id": "1", "text": "No scraping, data mining or AI training."}],
    }
    files["api/v1/instance.json"] = _dump(instance)
    files["api/v2/instance.json"] = _dump(instance)
    files["api/v1/instance/rules.json"] = _dump(instance["rules"])
    files["api/v1/instance/privacy_policy.json"] = _dump(
        {"updated_at": "2026-01-01T00:00:00.000Z", "content": "<p>We keep logs for 14 days.</p>"}
    )
    files["api/v1/custom_emojis.json"] = _dump(
        [{"shortcode": "blobcat", "url": f"https://{DOMAIN}/emoji/blobcat.png"}]
    )
    newest = list(reversed(local))
    files["api/v1/trends/statuses.json"] = _dump([_status_json(s) for s in newest[:10]])
    files["api/v1/trends/tags.json"] = _dump(
        [{"name": t, "url": f"https://{DOMAIN}/tags/{t}"} for t in TAGS[:5]]
    )
    _paginate("api/v1/timelines/public", list(reversed(timeline)), files)
    for tag in TAGS:
        _paginate(f"api/v1/timelines/tag/{tag}", [s for s in newest if tag in s.tags], files)
    for a in accounts:
        files[f"api/v1/accounts/{a.acct_id}.json"] = _dump(_account_json(a))
        _paginate(
            f"api/v1/accounts/{a.acct_id}/statuses", [s for s in newest if s.account == a], files
        )
    for s in local:
        files[f"api/v1/statuses/{s.id}.json"] = _dump(_status_json(s))
        files[f"api/v1/statuses/{s.id}/context.json"] = _dump({"ancestors": [], "descendants": []})
    return files
