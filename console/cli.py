"""`flask --app app operators …`: create the first admin, more operators, API tokens; change a
password, deactivate an operator."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from console.operators import (
    ROLES,
    SYSTEM,
    OperatorError,
    actor_of,
    change_password,
    create_operator,
    create_token,
    deactivate_operator,
)
from records.operators import Operator

operators_cli = AppGroup("operators", help="Console operators and their API tokens.")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _create(email: str, role: str, password_stdin: bool) -> None:
    database = current_app.extensions["database"]
    try:
        with database.session() as db:
            operator = create_operator(
                db,
                email,
                _password(password_stdin),
                role,
                SYSTEM,
                passwords=current_app.extensions["passwords"],
            )
            click.echo(f"created {operator.role} {operator.email}")
    except OperatorError as exc:
        raise click.ClickException(str(exc)) from None


@operators_cli.command("create-admin")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_admin(email: str, password_stdin: bool) -> None:
    """Create an admin (the first one, typically). The password is prompted for unless --password-stdin."""
    _create(email, "admin", password_stdin)


@operators_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="editor", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create(email: str, role: str, password_stdin: bool) -> None:
    """Create an operator with a role."""
    _create(email, role, password_stdin)


def _operator(db, email: str) -> Operator:
    operator = db.scalar(select(Operator).where(Operator.email == email.strip().lower()))
    if operator is None:
        raise click.ClickException(f"no operator {email}")
    return operator


@operators_cli.command("token")
@click.argument("email")
@click.option("--name", default="automation", show_default=True)
@click.option("--days", type=int, default=None, help="Days until it expires (API_TOKEN_DAYS by default).")
@click.option("--scope", type=click.Choice(ROLES), default=None, help="Highest role it acts with.")
def token(email: str, name: str, days: int | None, scope: str | None) -> None:
    """Make an API token for an operator and print it once."""
    settings = current_app.extensions["settings"]
    try:
        with current_app.extensions["database"].session() as db:
            _row, clear = create_token(
                db,
                actor_of(_operator(db, email)),
                name,
                days=days or settings.api_token_days,
                scope=scope,
                max_days=settings.api_token_max_days,
            )
    except OperatorError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(clear)


@operators_cli.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def set_password(email: str, password_stdin: bool) -> None:
    """Give an operator a new password; every console session of theirs ends."""
    try:
        with current_app.extensions["database"].session() as db:
            operator = _operator(db, email)
            change_password(
                db, current_app.extensions["passwords"], operator, _password(password_stdin), SYSTEM
            )
    except OperatorError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"password changed for {email}; their console sessions have ended")


@operators_cli.command("deactivate")
@click.argument("email")
def deactivate(email: str) -> None:
    """Deactivate an operator: no more logins, sessions ended, API tokens revoked."""
    try:
        with current_app.extensions["database"].session() as db:
            revoked = deactivate_operator(db, _operator(db, email), SYSTEM)
    except OperatorError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"deactivated {email}; {revoked} API token(s) revoked")
