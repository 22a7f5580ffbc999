"""Errors: one root, each subclass with the exit code the CLI returns for it."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit codes (README, docs/cli.md)."""

    OK = 0
    OFFENDERS = 1  # offenders found and --fail-on-offenders given
    USAGE = 2  # bad options: Click's own code
    INPUT = 3  # unreadable or unparseable logs, bad rule or config file, --strict rejects
    OUTPUT = 4  # cannot write an export or report, or its check command failed
    INTERNAL = 5  # a bug: rerun with --debug and report it
    LOCKED = 6  # another scan holds the state directory's lock
    INTERRUPTED = 130


class ScraperwatchError(Exception):
    """Root of every error the tool raises on purpose. The message says what, where, and how to fix it."""

    exit_code: ExitCode = ExitCode.INTERNAL


class InputError(ScraperwatchError):
    exit_code = ExitCode.INPUT


class LogSourceError(InputError):
    """A log file cannot be read or is not in the format asked for."""


class MalformedLogError(InputError):
    """--strict and at least one line was rejected."""


class SchemaError(InputError):
    """A frame does not carry the canonical columns."""


class LogFormatError(InputError):
    """An nginx log_format string cannot be compiled."""


class RuleFileError(InputError):
    """A rule or policy file is broken."""


class ConfigError(InputError):
    """The configuration file is broken."""


class RangesError(InputError):
    """A published address-range file is broken or cannot be fetched."""


class DatabaseError(InputError):
    """An ASN or geo mmdb file cannot be opened."""


class OutputError(ScraperwatchError):
    exit_code = ExitCode.OUTPUT


class ExportError(OutputError):
    """An export cannot be written, or its check command failed."""


class StateLockedError(ScraperwatchError):
    exit_code = ExitCode.LOCKED
