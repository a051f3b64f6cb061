"""Chat answers shared by the Telegram handlers, inline mode and ``orbitwire ask``."""

from bot.answers.service import Answer, Answers, InlineAnswer, InlineResult

__all__ = ["Answer", "Answers", "InlineAnswer", "InlineResult"]
