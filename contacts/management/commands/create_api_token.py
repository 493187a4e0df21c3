"""`manage.py create_api_token <username> [--group Integrator] [--create-user] [--rotate]`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.api.tokens import ApiTokenError, api_token_create


class Command(BaseCommand):
    help = (
        "Issue the REST API token of a user (`Authorization: Token <key>`) and print its key. "
        "With --create-user a missing user is created API-only (not staff, no password); "
        "--group adds the user to a group first (Integrator for systems calling the API)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--group",
            action="append",
            default=[],
            dest="groups",
            help="Add the user to this group (repeatable), e.g. --group Integrator.",
        )
        parser.add_argument(
            "--create-user", action="store_true", help="Create the user when it does not exist."
        )
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="Replace the user's existing token (the old key stops working).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            issued = api_token_create(
                username=options["username"],
                groups=options["groups"],
                create_user=options["create_user"],
                rotate=options["rotate"],
            )
        except ApiTokenError as error:
            raise CommandError(error.message) from error
        username = issued.user.get_username()
        if issued.user_created:
            self.stderr.write(f"Created API-only user {username!r} (not staff, no password).")
        if issued.groups_added:
            self.stderr.write(f"Added {username!r} to {', '.join(issued.groups_added)}.")
        verb = "Replaced the API token" if issued.replaced_existing else "Issued an API token"
        self.stderr.write(
            f"{verb} of {username!r}. Send it as 'Authorization: Token <key>'; it is printed "
            "once, below, so store it now."
        )
        # The key alone on stdout, so a script can capture it.
        self.stdout.write(issued.key)
