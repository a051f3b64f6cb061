"""The admin desk: the post queue (chat and CLI), time parsing, and notices to admins.

Logic lives here as services and pure functions; ``handlers/admin.py`` only parses updates and
replies, and ``bot/cli_queue.py`` calls the same :class:`~bot.admin.queue.QueueService`.
"""
