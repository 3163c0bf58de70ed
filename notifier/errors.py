"""Errors shared by the configuration, the profile and the front ends."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; ``str()`` is one line saying what and how."""


class ConfigError(UserError):
    """A bad ``config.toml`` value: names the file, the key and the problem."""

    def __init__(self, key: str, problem: str, *, path: str = "config.toml") -> None:
        self.key = key
        self.problem = problem
        self.path = path
        super().__init__(f"{path}: {key}: {problem}")
