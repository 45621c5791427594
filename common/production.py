"""What production refuses: missing, short, placeholder or development secrets.

`GATEWAY_ENV=production` turns every development default into a refusal to start. The rules for one
secret (`secret_problem`) are shared by the gateway (`gateway_problems`, checked by `create_app`,
so the web processes and every worker command) and the reference core service; `make run`
(tools/run_all.py) asks both before it starts anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config import Settings

PRODUCTION = "production"
DEVELOPMENT = "development"
ENVIRONMENTS = (DEVELOPMENT, PRODUCTION)
EXIT_INSECURE = 2
MIN_SECRET_LENGTH = 32
# A secret with fewer different characters than this is a placeholder ("xxxx…", "1234…").
MIN_DISTINCT_CHARACTERS = 10

# Values that appear in this repository, its docs and its tests: never secret anywhere.
DEVELOPMENT_VALUES = frozenset(
    {
        "dev-admin-token",
        "dev-webhook-secret",
        "dev-id-hash-key",
        "dev-c2b-token",
        "test-admin-token",
        "test-secret",
        "test-secret-key",
        "sandbox-key",
        "bench-secret",
        "bench-secret-key",
        "changeme",
        "change-me",
        "secret",
    }
)


class InsecureSettings(SystemExit):
    """Production was asked for with missing or development settings; `problems` names each, one
    line per setting, by its environment variable. A SystemExit (status 2): whatever was starting,
    a server, a worker or a command, stops there without a traceback."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(EXIT_INSECURE)
        self.problems = problems

    def __str__(self) -> str:
        return "refusing to start: " + "; ".join(self.problems)

    def report(self, who: str) -> str:
        """The lines printed on stderr before stopping."""
        return "\n".join([f"{who}: refusing to start:", *(f"  - {p}" for p in self.problems)])


def secret_problem(value: str) -> str | None:
    """Why `value` cannot be a production secret, or None when it can."""
    if not value:
        return "is not set"
    if value.strip().lower() in DEVELOPMENT_VALUES or value.startswith(("dev-", "test-", "bench-")):
        return "is a development value"
    if len(value) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    if len(set(value)) < MIN_DISTINCT_CHARACTERS:
        return "looks like a placeholder (too few different characters)"
    return None


def environment_problem(env: str) -> str | None:
    """A `GATEWAY_ENV` that is neither mode (a typo such as `prod` is refused, not taken for development)."""
    if env in ENVIRONMENTS:
        return None
    return f"GATEWAY_ENV={env!r} is neither {DEVELOPMENT} nor {PRODUCTION}"


def secrets_problems(required: dict[str, str], optional: dict[str, str] | None = None) -> list[str]:
    """One line per unfit secret: each of `required` (environment variable -> value) must pass
    `secret_problem`; each of `optional` only when it is set; all given values must differ."""
    problems = []
    for variable, value in required.items():
        problem = secret_problem(value)
        if problem:
            problems.append(f"{variable} {problem}")
    given = {variable: value for variable, value in (optional or {}).items() if value}
    for variable, value in given.items():
        problem = secret_problem(value)
        if problem:
            problems.append(f"{variable} {problem}")
    problems += _shared({**required, **given})
    return problems


def _shared(values: dict[str, str]) -> list[str]:
    by_value: dict[str, list[str]] = {}
    for variable, value in values.items():
        if value:
            by_value.setdefault(value, []).append(variable)
    return [f"{', '.join(names)} must all be different" for names in by_value.values() if len(names) > 1]


def gateway_secrets(settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    """(required, optional-but-checked-when-set) secrets of the gateway, by environment variable.

    An aggregator adapter with a callback secret of its own adds it to `required` when that
    aggregator is enabled."""
    required = {
        "SECRET_KEY": settings.secret_key,
        "WEBHOOK_SECRET": settings.webhook_secret,
        "AT_CALLBACK_SECRET": settings.at_callback_secret,
        "AT_API_KEY": settings.at_api_key,
    }
    if "hubtel" in settings.aggregators:
        required["HUBTEL_CALLBACK_SECRET"] = settings.hubtel_callback_secret
    if "arkesel" in settings.aggregators:
        required["ARKESEL_CALLBACK_SECRET"] = settings.arkesel_callback_secret
    optional = {
        "AUDIT_PSEUDONYM_KEY": settings.audit_pseudonym_key,
        "ANALYTICS_TOKEN": settings.analytics_token,
    }
    return required, optional


def gateway_problems(settings: Settings) -> list[str]:
    """Every reason the gateway must not start with `settings`, one line each, naming the
    environment variable; empty in development (where only an unknown GATEWAY_ENV is refused)."""
    problem = environment_problem(settings.gateway_env)
    if problem:
        return [problem]
    if not settings.production:
        return []
    problems = secrets_problems(*gateway_secrets(settings))
    if settings.password_hash_profile != "default":  # noqa: S105 - a profile name
        problems.append(f"PASSWORD_HASH_PROFILE={settings.password_hash_profile} is for tests only")
    return problems


def gateway_warnings(settings: Settings) -> list[str]:
    """What a development run leaves open, in words, for `make run`'s one warning block."""
    required, _optional = gateway_secrets(settings)
    words = {
        "SECRET_KEY": "a key generated into VAR_DIR/secret_key seals PINs and signs cookies",
        "WEBHOOK_SECRET": "anyone who knows the development value can make the gateway send SMS",
        "AT_CALLBACK_SECRET": "anyone can post USSD and SMS callbacks as any phone",
        "AT_API_KEY": "SMS go to the sandbox account",
        "HUBTEL_CALLBACK_SECRET": "anyone can post Hubtel USSD callbacks as any phone",
        "ARKESEL_CALLBACK_SECRET": "anyone can post Arkesel USSD callbacks as any phone",
    }
    lines = []
    for variable, value in required.items():
        problem = secret_problem(value)
        if problem:
            lines.append(f"{variable} {problem}: {words[variable]}")
    if not settings.console_secure_cookie:
        lines.append("console cookies are sent over plain HTTP (production makes them Secure)")
    return lines


def warning_block(title: str, lines: Iterable[str]) -> str:
    """The one block `make run` prints in development: what production would refuse, and why."""
    lines = list(lines)
    width = max([len(title), *(len(line) + 4 for line in lines)]) + 2
    rule = "!" * width
    body = "\n".join(f"  - {line}" for line in lines)
    return f"\n{rule}\n {title}\n{body}\n{rule}\n"
