"""Who may use the app and its speech API, decided from where it listens; and what the start message says about it.

Decisions:
* ``--host`` 127.0.0.1 (the default; any loopback address, or ``localhost``) reaches this computer only: no login and
  no API key, unless one is given. Any other address, or ``--share`` (the public gradio.live link reaches the same
  server, the API included), makes the app reachable by others:
  - the page asks for a password (Gradio's login, user ``tortoise``) unless the user opts out explicitly
    (``--no-password`` or ``TORTOISE_APP_NO_PASSWORD=1``). The password is ``--password`` or
    ``$TORTOISE_APP_PASSWORD``; without one a random one is made for this run and printed at start (as Jupyter does
    with its token), so exposing the app never leaves it open by accident and never stops it from starting.
  - the speech API requires its key (``Authorization: Bearer KEY``; OpenAI's 401 without it), as ``tortoise-tts
    serve`` does: ``--api-key`` or ``$TORTOISE_API_KEY``, else one made for this run and printed. ``--no-password``
    does not lift it: the page's login and the programs' key are separate choices.
* A password or key given on loopback is used too (the user asked for it).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from tortoise.errors import InvalidInputError
from tortoise.server.command import is_loopback

USER = "tortoise"  # the login name Gradio asks for with the password


@dataclass(frozen=True)
class Access:
    """What the app asks for, and which secrets were made up for this run (printed at start)."""

    exposed: bool  # reachable from other computers (another --host, or --share)
    password: str | None  # None: no login
    api_key: str | None  # None: the API asks for no key (or the API is off)
    made_password: bool = False
    made_key: bool = False

    @property
    def auth(self) -> list[tuple[str, str]] | None:
        """Gradio's ``launch(auth=...)``."""
        return [(USER, self.password)] if self.password else None


def is_exposed(host: str, share: bool = False) -> bool:
    """Whether the app started on ``host`` (with ``share``) can be reached from other computers."""
    return share or not is_loopback(host)


def decide(
    host: str,
    *,
    share: bool = False,
    password: str | None = None,
    no_password: bool = False,
    api: bool = True,
    api_key: str | None = None,
) -> Access:
    """The login and API key rule for an app on ``host``; ``InvalidInputError`` for contradictory options."""
    if password and no_password:
        raise InvalidInputError("--password and --no-password contradict each other: give one of them")
    exposed = is_exposed(host, share)
    made_password = exposed and not password and not no_password
    made_key = api and exposed and not api_key
    return Access(
        exposed=exposed,
        password=secrets.token_hex(8) if made_password else (password or None),
        api_key=(secrets.token_hex(24) if made_key else (api_key or None)) if api else None,
        made_password=made_password,
        made_key=made_key,
    )


def startup_lines(access: Access, url: str, *, api: bool) -> list[str]:
    """What the terminal shows at start about access (``url``: the app's address, ending in ``/``)."""
    lines = []
    where = "from other computers" if access.exposed else "from this computer only"
    if access.password and access.made_password:
        lines.append(f"The app is reachable {where}: log in as '{USER}' with the password {access.password} "
                     "(made for this run; set your own with --password or $TORTOISE_APP_PASSWORD)")  # fmt: skip
    elif access.password:
        lines.append(f"The app is reachable {where}: log in as '{USER}' with your password")
    elif access.exposed:
        lines.append(f"warning: no password (--no-password): anyone who can reach {url} can use the app, its voices, "
                     "files and settings")  # fmt: skip
    if not api:
        lines.append("Speech API off (--no-api)")
    elif access.api_key:
        key = (f"the key for this run is {access.api_key} (set your own with --api-key or $TORTOISE_API_KEY)"
               if access.made_key else "the key you gave")  # fmt: skip
        lines.append(f"OpenAI-compatible speech API at {url}v1: clients send 'Authorization: Bearer KEY'; {key}")
    else:
        lines.append(f"OpenAI-compatible speech API at {url}v1 (no API key: this computer only)")
    return lines
