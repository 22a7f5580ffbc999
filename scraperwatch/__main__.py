"""`python -m scraperwatch` runs the command line."""

from scraperwatch.cli import run

run()
