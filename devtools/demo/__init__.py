"""Bundled demo news and a local feed server, so ``storywire demo`` needs no internet.

``articles.yaml`` holds invented outlets and articles (with the ground-truth story of
each, for tests); ``corpus`` loads them as typed records, ``render`` turns them into
RSS, Atom and JSON Feed documents, and ``feedserver`` serves those feeds over HTTP,
releasing articles over time.
"""

from devtools.demo.corpus import DemoArticle, Outlet, load_demo_articles, load_demo_outlets
from devtools.demo.errors import DemoDataError, DemoError, FeedServerError
from devtools.demo.feedserver import DemoFeedServer

__all__ = [
    "DemoArticle",
    "DemoDataError",
    "DemoError",
    "DemoFeedServer",
    "FeedServerError",
    "Outlet",
    "load_demo_articles",
    "load_demo_outlets",
]
