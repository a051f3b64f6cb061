"""Telegram handlers. Thin by rule: parse the update, call a service, reply.

Each module exposes ``register(app)`` (one "router" per module, as in aiogram's multi-file bot);
:func:`register_all` wires them in a fixed order.
"""

from __future__ import annotations

from telegram.ext import Application

from handlers import basic, errors, knowledge


def register_all(app: Application) -> None:  # type: ignore[type-arg]
    basic.register(app)
    knowledge.register(app)
    app.add_error_handler(errors.on_error)
