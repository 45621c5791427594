"""`flask --app app operators …`: create the first admin, more operators, and API tokens."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from console.operators import ROLES, SYSTEM, OperatorError, actor_of, create_operator, create_token
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
            operator = create_operator(db, email, _password(password_stdin), role, SYSTEM)
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


@operators_cli.command("token")
@click.argument("email")
@click.option("--name", default="automation", show_default=True)
def token(email: str, name: str) -> None:
    """Make an API token for an operator and print it once."""
    with current_app.extensions["database"].session() as db:
        operator = db.scalar(select(Operator).where(Operator.email == email.strip().lower()))
        if operator is None:
            raise click.ClickException(f"no operator {email}")
        _row, clear = create_token(db, actor_of(operator), name)
    click.echo(clear)
