"""Corpus client: a plain Scrapy spider that follows every link of the site.

generate.py runs it with `scrapy runspider` (Scrapy's default user agent, ROBOTSTXT_OBEY off,
DOWNLOAD_BIND_ADDRESS set to its corpus address), one start URL per corpus server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import scrapy
from scrapy.http import Response, TextResponse


class SiteSpider(scrapy.Spider):
    name = "corpus-site"

    def __init__(self, targets: str = "", *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.start_urls = [t.rstrip("/") + "/" for t in targets.split(",") if t]

    def parse(self, response: Response, **kwargs: Any) -> Iterator[scrapy.Request]:
        if not isinstance(response, TextResponse):
            return
        for href in response.css("a::attr(href)").getall():
            if href.startswith("/") and not href.startswith("//"):
                yield response.follow(href, callback=self.parse)
