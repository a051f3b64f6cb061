"""Telegram handlers. Thin by rule: parse the update, call a service, reply.

Each module exposes ``register(app)`` (one "router" per module, as in aiogram's multi-file bot);
:func:`register_all` wires them in a fixed order.
"""

from __future__ import annotations

from telegram.ext import Application

from handlers import admin, basic, errors, knowledge, subscriptions


def register_all(app: Application) -> None:  # type: ignore[type-arg]
    basic.register(app)
    admin.register(app)  # q:/rv: buttons; replies to its prompts (group -1)
    subscriptions.register(app)  # sb: buttons
    knowledge.register(app)  # last: its free-text handler takes every other message
    app.add_error_handler(errors.on_error)
