"""The answers service: every chat answer, independent of Telegram.

Handlers, inline mode, button presses and ``orbitwire ask`` all call this one object, so "the
CLI prints exactly what the bot would answer" holds by construction. Each method returns a list
of :class:`~bot.replies.Reply` — one message, or several when a long answer is split at line
boundaries; buttons ride on the last part.

Database work runs through :meth:`Database.run` (plain functions in ``storage.queries`` and
``storage.search`` on a worker thread); rendering is pure (``bot.answers.render``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from bot.answers import callbacks, render
from bot.answers.intent import parse_intent, strip_mention
from bot.answers.resolve import ALL_KINDS, Entity, Resolver
from bot.commands import COMMANDS
from bot.knowledge.catalog import MissionInfo
from bot.knowledge.service import Knowledge
from bot.knowledge.textnorm import fold_key
from bot.replies import Button, Reply
from bot.texts import help_text, start_text
from storage import queries as q
from storage.db import Database
from storage.search import SearchPage, search_articles

Answer = list[Reply]

PER_PAGE = 5
INLINE_PER_PAGE = 10
LATEST_DEFAULT = 10
LATEST_MAX = 50
SUGGESTIONS = 4
#: Seconds a snapshot of the mission/agency tables is reused (see ``storage.queries.Reference``).
REFERENCE_TTL = 60.0


@dataclass(frozen=True, slots=True)
class InlineResult:
    """One inline-mode result (the handler turns it into ``InlineQueryResultArticle``)."""

    id: str  # ≤64 bytes, unique within one answer
    title: str
    description: str
    html: str  # the message sent when the user picks it (≤4096 UTF-16 units)
    url: str | None = None


@dataclass(frozen=True, slots=True)
class InlineAnswer:
    results: list[InlineResult]
    next_offset: str = ""


def usage(name: str) -> str:
    """``Usage: /mission NAME`` from the command list (one source with /help and the menu)."""
    for cmd in COMMANDS:
        if cmd.name == name:
            args = f" {escape(cmd.usage)}" if cmd.usage else ""
            return f"Usage: /{name}{args} — {escape(cmd.description)}"
    return f"Usage: /{name}"


def _replies(lines: Sequence[str], buttons: Sequence[Sequence[Button]] = ()) -> Answer:
    parts = render.split_lines(lines)
    rows = tuple(tuple(row) for row in buttons if row)
    return [Reply(html=p, buttons=rows if i == len(parts) - 1 else ()) for i, p in enumerate(parts)]


def _one(html: str, buttons: Sequence[Sequence[Button]] = ()) -> Answer:
    return _replies(html.split("\n"), buttons)


class Answers:
    """Mission cards, partners, lists, search, inline results and button presses."""

    def __init__(self, db: Database, knowledge: Knowledge) -> None:
        self.db = db
        self.knowledge = knowledge
        self.resolver = Resolver(knowledge.catalog)
        self._reference: q.Reference | None = None
        self._reference_at = 0.0
        self._commands = {
            "mission": self.mission,
            "partners": self.partners,
            "missions": self.missions,
            "latest": self.latest,
            "search": self.search,
        }

    async def _ref(self, *, fresh: bool = False) -> q.Reference:
        """The missions snapshot, re-read from the database at most every minute."""
        now = time.monotonic()
        if fresh or self._reference is None or now - self._reference_at > REFERENCE_TTL:
            self._reference = await self.db.run(q.reference)
            self._reference_at = now
        return self._reference

    async def warm(self) -> None:
        """Run every answer path once, before the first user does.

        The first call of each statement pays for SQLAlchemy's compile (then cached), for the
        reference snapshot and for the database's own caches; doing it at start-up keeps that
        out of a user's first answer. Call it before ``gc.freeze()`` so what it allocates for
        good (compiled SQL, the snapshot) is frozen with the rest of start-up.
        """
        ref = await self._ref(fresh=True)
        some = next(iter(ref.missions), None)
        if some is not None:
            await self._mission_card(some)
            await self._partners_of(Entity("mission", some, some))
        catalog = self.knowledge.catalog
        if catalog.countries:
            code = catalog.countries[0].code
            await self._partners_of(Entity("country", code, code))
        if catalog.agencies:
            abbrev = catalog.agencies[0].abbrev
            await self._partners_of(Entity("agency", abbrev, abbrev))
        await self._search("orbit", 0, suggest=False)

    async def _mission_row(self, slug: str) -> q.MissionRow | None:
        mission = (await self._ref()).missions.get(slug)
        if mission is None:  # added since the snapshot? look once more
            mission = (await self._ref(fresh=True)).missions.get(slug)
        return mission

    # ------------------------------------------------------------------ dispatch
    async def command(self, name: str, args: str, *, is_admin: bool = False) -> Answer | None:
        """Answer ``/name args``; ``None`` when the command is not an answers command."""
        name = name.lower()
        if name == "sources":
            return await self.sources()
        if name == "start":
            return _one(start_text(None))
        if name == "help":
            return _one(help_text(is_admin=is_admin))
        method = self._commands.get(name)
        if method is None:
            return None
        return await method(args)

    async def ask(
        self, text: str, *, is_admin: bool = False, bot_username: str | None = None
    ) -> Answer:
        """Answer a message as the bot would: a command, a mission, a partners question, or
        else a search. The free-text handler and ``orbitwire ask`` both come here."""
        text = strip_mention(text, bot_username)
        if not text:
            return _one(
                "Ask me about a mission (<code>Chang'e-7</code>), its partners "
                "(<code>who are the partners of Tianwen-2</code>) or search the news. /help"
            )
        intent = parse_intent(text, self.resolver)
        if intent.kind == "command":
            answer = await self.command(intent.subject, intent.args, is_admin=is_admin)
            if answer is None:
                return _one(f"I don't know /{escape(intent.subject)}. See /help.")
            return answer
        if intent.kind == "mission":
            return await self.mission(intent.subject)
        if intent.kind == "partners":
            return await self.partners(intent.subject)
        return await self.search(intent.subject)

    async def callback(self, data: str) -> Answer | None:
        """Answer a button press; ``None`` for data that is not ours."""
        action = callbacks.decode(data)
        if action is None:
            return None
        if action.kind == "m":
            return await self._mission_card(action.key)
        if action.kind == "pm":
            return await self._partners_of(Entity("mission", action.key, action.key))
        if action.kind == "pc":
            return await self._partners_of(Entity("country", action.key, action.key))
        if action.kind == "pa":
            return await self._partners_of(Entity("agency", action.key, action.key))
        return await self._search(action.key, action.page, suggest=False)

    # ------------------------------------------------------------------ missions
    async def mission(self, query: str) -> Answer:
        """``/mission NAME``: the card, or "Did you mean" buttons, or a helpful miss."""
        query = query.strip()
        if not query:
            return _one(usage("mission") + "\nExample: <code>/mission Chang'e-7</code>")
        found = self.resolver.mission(query)
        if found is not None:
            return await self._mission_card(found.slug)
        suggestions = self.resolver.suggest(query, ("mission",), SUGGESTIONS)
        if suggestions:
            buttons = [
                [Button(f"🛰 {s.label}", callback_data=data)]
                for s in suggestions
                if (data := callbacks.mission(s.key))
            ]
            return _one(
                f"🤔 I don't know a mission called <b>{escape(query)}</b>. Did you mean:", buttons
            )
        return self._unknown_mission(query)

    def _unknown_mission(self, query: str) -> Answer:
        buttons: list[list[Button]] = []
        data = callbacks.search(0, callbacks.fit_query(query))
        if data:
            buttons.append([Button(f"🔎 Search the news for “{query[:40]}”", callback_data=data)])
        return _one(
            f"I don't know a mission called <b>{escape(query)}</b>.\n"
            "See /missions for every mission I follow, or search the news with /search.",
            buttons,
        )

    async def _mission_card(self, slug: str) -> Answer:
        mission = await self._mission_row(slug)
        if mission is None:
            return _one("That mission is no longer in my catalog. See /missions.")
        card = await self.db.read(q.card_for, mission)
        buttons: list[list[Button]] = []
        row = []
        if data := callbacks.partners("mission", slug):
            row.append(Button("🤝 Partners", callback_data=data))
        if data := callbacks.search(0, callbacks.fit_query(card.mission.name)):
            row.append(Button("📰 More news", callback_data=data))
        buttons.append(row)
        return _replies(render.mission_card_lines(card), buttons)

    async def missions(self, flt: str) -> Answer:
        """``/missions [agency|country|target]``."""
        flt = flt.strip()
        rows = (await self._ref()).sorted_missions()
        catalog = self.knowledge.catalog
        if not flt:
            return _replies(render.missions_lines("Missions I follow", rows))
        entity = self.resolver.entity(flt, ("agency", "country"))
        if entity is not None and entity.kind == "agency":
            chosen = [
                m
                for m in rows
                if (m.lead and m.lead.abbrev == entity.key)
                or ((info := catalog.mission_by_slug(m.slug)) and entity.key in info.agencies)
            ]
            title = f"Missions of {escape(entity.key)}"
        elif entity is not None and entity.kind == "country":
            code = entity.key
            chosen = [
                m
                for m in rows
                if code in m.countries
                or (m.lead and m.lead.country_code == code)
                or (
                    (info := catalog.mission_by_slug(m.slug))
                    and any(p.country_code == code for p in info.partners)
                )
            ]
            country = catalog.country(code)
            title = f"Missions with {escape(country.name if country else code)}"
        else:
            key = fold_key(flt)
            chosen = [m for m in rows if m.target and key and key in fold_key(m.target)]
            title = f"Missions to {escape(flt)}"
        if not chosen:
            targets = sorted({(m.target or "").split(" (")[0] for m in rows if m.target})
            return _one(
                f"No missions match <b>{escape(flt)}</b>.\n"
                "Filter by agency (<code>/missions ESA</code>), country "
                "(<code>/missions Japan</code>) or target: " + escape(", ".join(targets[:15]))
            )
        return _replies(render.missions_lines(title, chosen))

    # ------------------------------------------------------------------ partners
    async def partners(self, query: str) -> Answer:
        """``/partners COUNTRY|AGENCY|MISSION``."""
        query = query.strip()
        if not query:
            return _one(
                usage("partners") + "\nExamples: <code>/partners Chang'e-7</code>, "
                "<code>/partners Pakistan</code>, <code>/partners ESA</code>"
            )
        entity = self.resolver.entity(query, ("mission", "agency", "country"))
        if entity is not None:
            return await self._partners_of(entity)
        suggestions = self.resolver.suggest(query, ALL_KINDS, SUGGESTIONS)
        icons = {"mission": "🛰", "agency": "🏛", "country": "🌍"}
        buttons = [
            [Button(f"{icons[s.kind]} {s.label}", callback_data=data)]
            for s in suggestions
            if (data := callbacks.partners(s.kind, s.key))
        ]
        if buttons:
            return _one(
                f"🤔 I don't know <b>{escape(query)}</b>. Did you mean:",
                buttons,
            )
        return _one(
            f"I don't know a mission, agency or country called <b>{escape(query)}</b>.\n"
            "Try a mission (<code>Chang'e-7</code>), an agency (<code>ESA</code>) or a "
            "country (<code>Pakistan</code>, <code>UAE</code>)."
        )

    async def _partners_of(self, entity: Entity) -> Answer:
        catalog = self.knowledge.catalog
        if entity.kind == "mission":
            mission = await self._mission_row(entity.key)
            if mission is None:
                return _one("That mission is no longer in my catalog. See /missions.")
            partners = await self.db.read(q.mission_partners, mission.id)
            buttons = [[Button("🛰 Mission card", callback_data=f"m:{entity.key}")]]
            return _replies(render.mission_partners_lines(mission, partners), buttons)
        if entity.kind == "country":
            contributions = await self.db.read(q.country_contributions, entity.key)
            rows = (await self._ref()).sorted_missions()
            leads = [m for m in rows if m.lead and m.lead.country_code == entity.key]
            contributions = q.Contributions(facts=contributions.facts, leads=leads)
            country = catalog.country(entity.key)
            name = country.name if country else entity.key
            flag = f"{country.flag} " if country and country.flag else ""
            title = f"{flag}{escape(name)} in space missions"
            return _replies(render.contributions_lines(title, contributions))
        facts = await self.db.read(q.agency_contributions, entity.key)
        rows = (await self._ref()).sorted_missions()
        leads = [m for m in rows if m.lead and m.lead.abbrev == entity.key]
        contributions = q.Contributions(facts=facts.facts, leads=leads)
        agency = catalog.agency_by_abbrev(entity.key)
        label = (
            f"{entity.key} ({agency.name})" if agency and agency.name != entity.key else entity.key
        )
        return _replies(render.contributions_lines(escape(label), contributions))

    # ------------------------------------------------------------------ news
    async def latest(self, arg: str = "") -> Answer:
        """``/latest [N]``: the N newest articles (default 10, at most 50)."""
        arg = arg.strip()
        if arg and not arg.isdigit():
            return _one(usage("latest") + "\nExample: <code>/latest 5</code>")
        n = min(max(int(arg), 1), LATEST_MAX) if arg else LATEST_DEFAULT
        articles = await self.db.read(q.latest_articles, n)
        return _replies(render.latest_lines(articles))

    async def search(self, query: str, page: int = 0) -> Answer:
        """``/search QUERY``: ranked hits with snippets and Prev/Next buttons."""
        if not query.strip():
            return _one(
                usage("search") + '\nExample: <code>/search lunar south pole "ion detector"</code>'
            )
        return await self._search(query, page, suggest=True)

    async def _search(self, query: str, page: int, *, suggest: bool) -> Answer:
        canonical = callbacks.fit_query(query)
        if not canonical:
            return _one(
                f"🔎 <b>{escape(query.strip()[:100])}</b> has no searchable words. "
                "Try a mission, an agency or a topic."
            )
        result: SearchPage = await self.db.read(
            search_articles, canonical, page=page, per_page=PER_PAGE
        )
        buttons: list[list[Button]] = []
        nav = []
        if result.page > 0 and (data := callbacks.search(result.page - 1, result.query)):
            nav.append(Button("◀ Prev", callback_data=data))
        if result.has_next and (data := callbacks.search(result.page + 1, result.query)):
            nav.append(Button("Next ▶", callback_data=data))
        buttons.append(nav)
        if suggest and not result.hits and page == 0:
            for s in self.resolver.suggest(query, ("mission",), SUGGESTIONS - 1):
                if data := callbacks.mission(s.key):
                    buttons.append([Button(f"🛰 {s.label}", callback_data=data)])
        lines = render.search_lines(result, PER_PAGE)
        if len(buttons) > 1:
            lines = [*lines, "", "Did you mean one of these missions?"]
        if len(render.split_lines(lines)) > 1:
            # A page must be one message (Next edits it in place): drop the snippets.
            bare = [dataclasses.replace(h, snippet="") for h in result.hits]
            lines = render.search_lines(dataclasses.replace(result, hits=bare), PER_PAGE)
        return _replies(lines, buttons)

    async def sources(self, _args: str = "") -> Answer:
        """``/sources``: the feeds behind the answers."""
        return _replies(render.sources_lines(await self.db.run(q.sources)))

    # ------------------------------------------------------------------ inline
    async def inline(self, query: str, offset: str = "") -> InlineAnswer:
        """``@bot chang``: matching missions (first page only), then matching articles."""
        query = " ".join(query.split())
        page = int(offset) if offset.isdigit() else 0
        results: list[InlineResult] = []
        if not query:
            articles = await self.db.read(q.latest_articles, INLINE_PER_PAGE)
            results += [self._article_result(a, "") for a in articles]
            return InlineAnswer(results)
        if page == 0:
            for mission in self._inline_missions(query):
                row = await self._mission_row(mission.slug)
                if row is None:
                    continue
                card = await self.db.read(q.card_for, row)
                html = render.split_lines(render.mission_card_lines(card))[0]
                description = " · ".join(
                    x for x in (mission.lead_agency, mission.target, mission.status) if x
                )
                results.append(
                    InlineResult(f"m:{mission.slug}", f"🛰 {mission.name}", description, html)
                )
        canonical = callbacks.fit_query(query)
        if canonical:
            found = await self.db.read(
                search_articles, canonical, page=page, per_page=INLINE_PER_PAGE
            )
            for hit in found.hits:
                brief = q.ArticleBrief(
                    hit.id, hit.title, hit.url, hit.site, hit.source, hit.published_at
                )
                results.append(self._article_result(brief, hit.snippet))
            next_offset = str(page + 1) if found.has_next else ""
        else:
            next_offset = ""
        return InlineAnswer(results, next_offset)

    def _inline_missions(self, query: str, limit: int = 5) -> list[MissionInfo]:
        """Exact name first, then names starting with the query, then fuzzy matches."""
        found: list[MissionInfo] = []
        exact = self.resolver.mission(query)
        if exact is not None:
            found.append(exact)
        found += self.resolver.mission_prefix(query, limit)
        for s in self.resolver.suggest(query, ("mission",), limit):
            mission = self.knowledge.catalog.mission_by_slug(s.key)
            if mission is not None:
                found.append(mission)
        return list(dict.fromkeys(found))[:limit]

    @staticmethod
    def _article_result(a: q.ArticleBrief, snippet: str) -> InlineResult:
        lines = [render.article_line(a, bullet="📰")]
        if snippet.strip():
            lines.append(render.snippet_html(snippet))
        meta = ", ".join(x for x in (a.site, render.day(a.published_at)) if x)
        return InlineResult(
            id=f"a:{a.id}",
            title=render.one_line(a.title)[:200] or "(untitled)",
            description=meta,
            html=render.split_lines(lines)[0],
            url=a.url if render.is_http_url(a.url) else None,
        )
