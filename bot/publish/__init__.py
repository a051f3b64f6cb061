"""Publishing: turning stories into Telegram posts (summaries, rendering, length limits)."""

from __future__ import annotations

from .render import (
    FollowLink,
    PostContent,
    RenderedPost,
    hashtag,
    html_to_plain,
    parse_follow_us,
    render_post,
    safe_url,
    sanitize_feed_html,
)
from .summarize import AbstractiveSummarizer, Summarizer, extractive_summary
from .textlimits import shorten_text, utf16_len

__all__ = [
    "AbstractiveSummarizer",
    "FollowLink",
    "PostContent",
    "RenderedPost",
    "Summarizer",
    "extractive_summary",
    "hashtag",
    "html_to_plain",
    "parse_follow_us",
    "render_post",
    "safe_url",
    "sanitize_feed_html",
    "shorten_text",
    "utf16_len",
]
