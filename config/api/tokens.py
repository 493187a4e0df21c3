"""API tokens (DRF's `Authorization: Token <key>`): creating one for a user, or an API-only user."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction
from rest_framework.authtoken.models import Token


class ApiTokenError(Exception):
    """A request for a token was refused; `message` says why, for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class IssuedToken:
    key: str
    user: AbstractBaseUser
    user_created: bool
    replaced_existing: bool
    groups_added: tuple[str, ...]


@transaction.atomic
def api_token_create(
    *,
    username: str,
    groups: Sequence[str] = (),
    create_user: bool = False,
    rotate: bool = False,
) -> IssuedToken:
    """Issue the API token of `username`, adding the user to `groups` first.

    With `create_user` a missing user is created API-only: not staff (the admin refuses it) and
    without a usable password (no login anywhere), so the token is its only credential. A user
    has one token; an existing one is replaced only with `rotate` (the old key stops working).
    """
    username = username.strip()
    if not username:
        raise ApiTokenError("Give the username the token is for.")
    wanted = list(dict.fromkeys(groups))
    found = {group.name: group for group in Group.objects.filter(name__in=wanted)}
    missing = [name for name in wanted if name not in found]
    if missing:
        existing = ", ".join(Group.objects.order_by("name").values_list("name", flat=True))
        raise ApiTokenError(f"No group named {', '.join(missing)}; the groups are: {existing}.")

    User = get_user_model()
    user = User.objects.select_for_update().filter(**{User.USERNAME_FIELD: username}).first()
    user_created = False
    if user is None:
        if not create_user:
            raise ApiTokenError(
                f"No user {username!r}. Add --create-user to create an API-only user."
            )
        user = User(**{User.USERNAME_FIELD: username}, is_staff=False)
        user.set_unusable_password()
        user.save()
        user_created = True
    elif not user.is_active:
        raise ApiTokenError(f"User {username!r} is inactive; a token would not authenticate.")

    replaced = False
    existing_token = Token.objects.filter(user=user).first()
    if existing_token is not None:
        if not rotate:
            raise ApiTokenError(
                f"User {username!r} already has a token (created "
                f"{existing_token.created:%Y-%m-%d %H:%M} UTC). Add --rotate to replace it; "
                "the old key then stops working."
            )
        existing_token.delete()
        replaced = True
    token = Token.objects.create(user=user)
    added = tuple(name for name in wanted if not user.groups.filter(name=name).exists())
    user.groups.add(*(found[name] for name in wanted))
    return IssuedToken(
        key=token.key,
        user=user,
        user_created=user_created,
        replaced_existing=replaced,
        groups_added=added,
    )
