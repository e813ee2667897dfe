"""Errors a user can act on: each names the problem and where it is."""

from __future__ import annotations


class ScommError(Exception):
    """Base class of every error scomm reports to a user (CLI exit code 2)."""

    exit_code = 2


class InputError(ScommError):
    """Bad input: a malformed transaction, image, policy file, template or argument.

    ``where`` names the file (and line, field or record) so the user can find it.
    """

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}")


class PolicyError(InputError):
    """A policy file that does not validate."""


class TransactionError(InputError):
    """An ANSI/NIST-ITL transaction that cannot be read or is missing a required field."""


class ImageError(InputError):
    """A fingerprint image that is corrupt, truncated or not a fingerprint."""


class TemplateError(InputError):
    """A minutiae template of a wrong version or a corrupt one."""


class GalleryError(InputError):
    """A gallery file that was cut short or does not match its index."""


class DataError(InputError):
    """A public dataset that is missing or does not match its checksum."""


class TaskFailed(ScommError):
    """A step of a case failed for good (its error kept in the task): the command did not do
    what was asked. Exit code 1, not 2: the input was fine, the work was not done."""

    exit_code = 1
