"""The kinds of account, one entry each: how to read its settings, build its
backend and check a credential, and what it can tell (on-call state) or needs (a secret).

Everything is named by dotted path and imported only when an account of that kind
exists, so a profile without, say, a PagerDuty account never loads PagerDuty's
client. A new backend adds one :class:`AccountKind` to :data:`KINDS`; config
validation, :class:`~notifier.core.accounts.Accounts`, the sync, ``login`` and ``doctor``
follow, asking the kind's properties rather than its name.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from notifier.backends.port import Backend, NotInstalledError
from notifier.domain.model import Person
from notifier.errors import UserError


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class OptionalLibrary:
    """A library a kind of account needs that the default install leaves out (an
    extra of the package: issue 22 keeps the install under 300 MB)."""

    module: str  # its top-level import name
    distribution: str  # its name on PyPI
    extra: str  # the extra of oncall-notifier that installs it
    label: str  # as the user knows it: "the incident.io SDK"

    def installed(self) -> bool:
        # a fresh look each time: a `pipx inject` while the app runs counts at the
        # next attempt (the import system notices the changed site-packages folder)
        return importlib.util.find_spec(self.module) is not None

    def missing(self, kind_label: str, account: str) -> str:
        """The one line saying what is missing and how to add it (pip and pipx
        installs only: the frozen bundles and the .deb carry every library)."""
        return (
            f"{kind_label} account {account!r} needs {self.label}, which this install "
            f"leaves out: run `pipx inject oncall-notifier {self.distribution}` "
            f"(or `pip install 'oncall-notifier[{self.extra}]'` in the app's environment)"
        )


@dataclass(frozen=True)
class AccountKind:
    """One kind of ``[[accounts]]`` entry.

    ``parse`` is ``"module:function"`` taking ``(entry, where=...)`` and returning
    the settings (with at least ``name`` and ``poll_interval``, which may be unset when
    ``poll_interval_on_call`` and ``poll_interval_off_call`` are declared: see
    :mod:`notifier.core.polling`); ``settings`` is
    ``"module:Class"``, the dataclass that declares them
    (:mod:`notifier.settings_schema`: the settings dialog and the README are made
    from it); ``create`` takes
    ``(settings, secret)`` and returns a :class:`~notifier.backends.port.Backend`;
    ``verify`` takes ``(settings, secret)`` and returns the :class:`Person` the
    credential belongs to (``login`` and "Test connection"); a kind without ``verify``
    keeps no secret at all. ``secret`` names the credential as the user knows it ("API
    token"), ``secret_help`` says where to get one; ``secret_required`` False means the
    account also works without one.

    ``in_accounts`` False: the account is configured in a table of its own (``[local]``),
    never in ``[[accounts]]``; ``has_oncall`` False: it has no rota to say whether I am
    on call; ``fixed_poll``: it is read this often whatever the on-call state;
    ``takes_unlisted_people``: a role may go to someone it does not list, as typed.
    ``needs``: a library the default install leaves out; without it an account of this
    kind is still configured (its settings parse and save) but not used, and says why.
    """

    kind: str
    label: str
    parse: str
    settings: str
    create: str
    verify: str | None
    secret: str = "API token"
    secret_help: str = ""
    secret_required: bool = True
    in_accounts: bool = True
    has_oncall: bool = True
    fixed_poll: timedelta | None = None
    takes_unlisted_people: bool = False
    #: ``"module:function"`` taking ``(settings, secrets, profile_root)``: the backend
    #: of an account signed in with the browser (OAuth), None when it is not
    signed_in: str = ""
    #: ``"module:function"`` taking ``(settings, secrets, open_browser=, timeout=)``:
    #: sign in with the browser, keep the tokens, return the :class:`Person`, API base
    browser_sign_in: str = ""
    #: ``"module:function"`` taking ``(settings, secrets)``: revoke and delete a
    #: browser sign-in; whether there was one
    browser_sign_out: str = ""
    needs: OptionalLibrary | None = None

    @property
    def takes_secret(self) -> bool:
        """Whether accounts of this kind log in with a secret kept in the store."""
        return self.verify is not None

    def unusable(self, account: str) -> str | None:
        """Why ``account`` of this kind cannot be used by this install (one line:
        what is missing and what to run), or None when it can."""
        if self.needs is None or self.needs.installed():
            return None
        return self.needs.missing(self.label, account)

    def check_usable(self, account: str) -> None:
        """Raise :class:`NotInstalledError` with :meth:`unusable`'s line, if any."""
        problem = self.unusable(account)
        if problem is not None:
            raise NotInstalledError(problem, account=account)

    def _check_usable(self, settings: Any) -> None:
        # before the backend's module is imported: it imports the library
        if self.needs is not None:
            self.check_usable(str(settings.name))

    def parse_settings(self, entry: Mapping[str, Any], *, where: str) -> Any:
        function: Callable[..., Any] = _load(self.parse)
        return function(entry, where=where)

    def settings_class(self) -> type[Any]:
        """The dataclass declaring this kind's settings (imports the backend's settings)."""
        cls: type[Any] = _load(self.settings)
        return cls

    def create_backend(self, settings: Any, secret: str | None) -> Backend:
        self._check_usable(settings)
        function: Callable[..., Backend] = _load(self.create)
        return function(settings, secret)

    def signed_in_backend(self, settings: Any, secrets: Any, profile_root: Any) -> Backend | None:
        if not self.signed_in:
            return None
        self._check_usable(settings)
        function: Callable[..., Backend | None] = _load(self.signed_in)
        return function(settings, secrets, profile_root)

    def sign_in(self, settings: Any, secrets: Any, **options: Any) -> tuple[Person, str]:
        self._check_usable(settings)
        function: Callable[..., tuple[Person, str]] = _load(self.browser_sign_in)
        return function(settings, secrets, **options)

    def sign_out(self, settings: Any, secrets: Any) -> bool:
        if not self.browser_sign_out:
            return False
        function: Callable[..., bool] = _load(self.browser_sign_out)
        return function(settings, secrets)

    def verify_secret(self, settings: Any, secret: str) -> Person:
        if self.verify is None:
            raise UserError(f"a {self.label} account needs no login")
        self._check_usable(settings)
        function: Callable[..., Person] = _load(self.verify)
        return function(settings, secret)


KINDS: dict[str, AccountKind] = {
    "local": AccountKind(
        kind="local",
        label="local",
        parse="notifier.backends.local.settings:parse_local_settings",
        settings="notifier.backends.local.settings:LocalSettings",
        # takes the LocalAccount that notifier.core.accounts makes of [local] and the profile
        create="notifier.backends.local.backend:create_local_backend",
        verify=None,
        secret_required=False,
        in_accounts=False,
        has_oncall=False,
        # its database is watched for changes; this poll only catches what the watch missed
        fixed_poll=timedelta(seconds=30),
        takes_unlisted_people=True,
    ),
    "pagerduty": AccountKind(
        kind="pagerduty",
        label="PagerDuty",
        parse="notifier.backends.pagerduty.settings:parse_pagerduty_account",
        settings="notifier.backends.pagerduty.settings:PagerDutySettings",
        create="notifier.backends.pagerduty.backend:PagerDutyBackend",
        verify="notifier.backends.pagerduty.backend:verify_token",
        secret="API token",
        secret_help="create one in PagerDuty under My Profile > User Settings, or sign in "
        "in the browser with `login ACCOUNT --browser`",
        signed_in="notifier.backends.pagerduty.oauth_tokens:create_signed_in_backend",
        browser_sign_in="notifier.backends.pagerduty.oauth_tokens:sign_in_account",
        browser_sign_out="notifier.backends.pagerduty.oauth_tokens:sign_out",
    ),
    "alertmanager": AccountKind(
        kind="alertmanager",
        label="Alertmanager",
        parse="notifier.backends.alertmanager.settings:parse_alertmanager_account",
        settings="notifier.backends.alertmanager.settings:AlertmanagerSettings",
        create="notifier.backends.alertmanager.backend:AlertmanagerBackend",
        verify="notifier.backends.alertmanager.backend:verify_secret",
        secret="password or bearer token",
        secret_help="give the basic-auth password of basic_auth_user, or the bearer token "
        "the cluster's proxy expects; a cluster without authentication needs no login",
        secret_required=False,
    ),
    "incidentio": AccountKind(
        kind="incidentio",
        label="incident.io",
        parse="notifier.backends.incidentio.settings:parse_incidentio_account",
        settings="notifier.backends.incidentio.settings:IncidentIoSettings",
        create="notifier.backends.incidentio.backend:IncidentIoBackend",
        verify="notifier.backends.incidentio.backend:verify_api_key",
        secret="API key",
        secret_help="create one in incident.io under Settings > API keys",
        needs=OptionalLibrary("incident_io", "incident-io", "incidentio", "the incident.io SDK"),
    ),
}


def accounts_kinds() -> dict[str, AccountKind]:
    """The kinds an ``[[accounts]]`` table may name (all but the local one)."""
    return {name: kind for name, kind in KINDS.items() if kind.in_accounts}


def account_kind(kind: str) -> AccountKind:
    """The entry for ``kind`` (config validation has already refused unknown kinds)."""
    return KINDS[kind]
