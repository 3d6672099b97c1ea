"""A subscription's settings on buttons: the kinds of incident told, loud or silent, snooze.

Each subscription in /subscriptions has a ⚙ Settings button (and :func:`choices_markup` puts the same
button under an alert); it opens a message whose keyboard shows the subscription's choices and
changes them: a tick per kind of incident (``event_kinds`` in ``rules/alerts.yaml``), Loud or
Silent, Snooze for each duration the rules offer, and Unsnooze while snoozed. A press changes the
store (:class:`riskengine.subscriptions.Subscriptions`, only the chat's own subscription), edits that
message in place to show the new state, and answers the press with a short confirmation.

Callback data (at most ~35 bytes, well under Telegram's 64): ``set|ID`` opens the settings;
``set|ID|k|KIND|1`` (or ``0``) tells (or stops telling) a kind; ``set|ID|s|1`` silent, ``set|ID|s|0``
loud; ``set|ID|z|HOURS`` snooze, ``set|ID|z|0`` unsnooze. Each carries the state it asks for, not a
toggle, so pressing a button of an older copy of the keyboard does what its label says.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from riskengine.notify import OutboxAlert
from riskengine.subscriptions import Subscription, SubscriptionError

from . import render
from .i18n import N_, Translator

if TYPE_CHECKING:
    from .app import BotServices

log = logging.getLogger("bot.choices")

PREFIX = "set"
#: The labels of the kinds in ``rules/alerts.yaml``, for the catalogue (a kind added there without
#: a translation here is shown by its English label).
KIND_LABELS = (N_("Ambush"), N_("Kidnapping"), N_("Clashes"), N_("Strikes"), N_("Closures"))


def handles(data: str | None) -> bool:
    """Whether a button's callback data is one of these settings'."""
    return (data or "").split("|", 1)[0] == PREFIX


def _button(label: str, *parts: object) -> InlineKeyboardButton:
    data = "|".join([PREFIX, *map(str, parts)])
    if len(data.encode()) > 64:  # cannot happen: ids are numbers, kinds are 20 letters at most (rules)
        raise ValueError(f"callback data {data!r} passes Telegram's 64 bytes")
    return InlineKeyboardButton(label, callback_data=data)


def settings_button(subscription_id: int, label: str) -> InlineKeyboardButton:
    """The button that opens a subscription's settings."""
    return _button(f"⚙ {render.clip(label, 38)}", subscription_id)


def choices_markup(subscription_id: int, tr: Translator) -> InlineKeyboardMarkup:
    """A ⚙ Settings button to put under an alert of this subscription."""
    return InlineKeyboardMarkup([[settings_button(subscription_id, tr._("Settings"))]])


def alert_markup(language_of: Callable[[str], str | None], translator_of: Callable[[str], Translator]
                 ) -> Callable[[OutboxAlert], InlineKeyboardMarkup | None]:
    """A ``markup`` for :class:`bot.notifier.TelegramNotifier`: the Settings button, in the chat's
    language, under every alert of a private chat's subscription (none under a self-test, nor in a
    group or a broadcast channel, whose readers do not own the subscription)."""

    def markup(alert: OutboxAlert) -> InlineKeyboardMarkup | None:
        if alert.subscription_id is None or alert.kind == "selftest" or str(alert.chat_id).startswith(("-", "@")):
            return None  # a channel's readers cannot change its subscription
        return choices_markup(alert.subscription_id, translator_of(language_of(str(alert.chat_id)) or "en"))

    return markup


def _snoozed(sub: Subscription, d: BotServices) -> bool:
    return sub.snoozed_until is not None and sub.snoozed_until > d.clock()


def settings_text(sub: Subscription, d: BotServices, tr: Translator) -> str:
    """What a subscription's settings are now, in HTML."""
    policy, _ = d.policy, tr._
    labels = {k.id: tr._(k.label) for k in policy.event_kinds}
    if sub.event_kinds is None:
        kinds = _("Incidents told: all kinds.")
    elif not sub.event_kinds:
        kinds = _("Incidents told: only those that are of none of the kinds below.")
    else:
        kinds = _("Incidents told: {kinds}, and any that is of none of the kinds below.").format(
            kinds=render.esc(tr.comma.join(labels.get(k, k) for k in sub.event_kinds)))
    sound = _("Sound: 🔕 silent, even for the gravest alerts.") if sub.silent else _("Sound: 🔔 loud.")
    hold = policy.snooze.hold_below_level
    if _snoozed(sub, d):
        snooze = _("💤 Snoozed until {when}: alerts wait until then, but {level} alerts still come through.").format(
            when=tr.when(sub.snoozed_until), level=render.esc(tr.level(hold, d.engine.rules.level_name(hold))))
    else:
        snooze = _("Not snoozed.")
    return "\n".join([
        _("⚙ <b>Settings: {target}</b>").format(target=render.esc(render.describe(sub, tr))), kinds, sound, snooze,
        _("Changes of the road's level are always told. Tap to change:")])


def settings_keyboard(sub: Subscription, d: BotServices, tr: Translator) -> InlineKeyboardMarkup:
    """Ticks for the kinds, Loud and Silent, the snoozes (and Unsnooze while snoozed)."""
    chosen = set(sub.event_kinds) if sub.event_kinds is not None else None
    kinds = []
    for kind in d.policy.event_kinds:
        on = chosen is None or kind.id in chosen
        kinds.append(_button(f"{'✓' if on else '☐'} {tr._(kind.label)}", sub.id, "k", kind.id, 0 if on else 1))
    rows = [kinds[i:i + 2] for i in range(0, len(kinds), 2)]
    rows.append([_button(("✓ " if not sub.silent else "") + tr._("🔔 Loud"), sub.id, "s", 0),
                 _button(("✓ " if sub.silent else "") + tr._("🔕 Silent"), sub.id, "s", 1)])
    rows.append([_button(tr._("💤 Snooze {hours} h").format(hours=tr.iso(h)), sub.id, "z", h)
                 for h in d.policy.snooze.hours])
    if _snoozed(sub, d):
        rows.append([_button(tr._("⏰ Unsnooze"), sub.id, "z", 0)])
    return InlineKeyboardMarkup(rows)


def _change(d: BotServices, sub: Subscription, args: list[str], chat_id: str, tr: Translator
            ) -> tuple[Subscription | None, str] | None:
    """Apply one press to the store: the subscription as it is now, and the confirmation; None for
    data no button of ours carries."""
    subs, policy, now = d.subscriptions, d.policy, d.clock()
    known = [k.id for k in policy.event_kinds]
    labels = {k.id: tr._(k.label) for k in policy.event_kinds}
    match args:
        case ["k", kind, ("0" | "1") as on] if kind in known:
            chosen = set(sub.event_kinds if sub.event_kinds is not None else known)
            chosen = chosen | {kind} if on == "1" else chosen - {kind}
            said = tr._("{kind}: told") if on == "1" else tr._("{kind}: not told")
            return subs.set_event_kinds(sub.id, chosen, chat_id=chat_id, known=known), said.format(kind=labels[kind])
        case ["s", ("0" | "1") as silent]:
            said = tr._("Silent: alerts come without sound.") if silent == "1" else tr._(
                "Loud: alerts come with sound.")
            return subs.set_silent(sub.id, silent == "1", chat_id=chat_id), said
        case ["z", "0"]:
            return subs.snooze(sub.id, None, chat_id=chat_id, now=now), tr._("Snooze off: alerts come at once.")
        case ["z", hours] if hours.isdigit() and int(hours) in policy.snooze.hours:
            hold = policy.snooze.hold_below_level
            said = tr._("Snoozed for {hours} h; {level} alerts still come through.").format(
                hours=tr.iso(hours), level=tr.level(hold, d.engine.rules.level_name(hold)))
            return subs.snooze(sub.id, now + dt.timedelta(hours=int(hours)), chat_id=chat_id, now=now), said
    return None


async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Open a subscription's settings, or change one and show the new state in place."""
    from .handlers import deps, send, tr_of  # noqa: PLC0415 - the handlers import this module

    query = update.callback_query
    d, tr = deps(context), await tr_of(update, context)
    chat_id = str(update.effective_chat.id)
    parts = (query.data or "").split("|")
    sub_id = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() and len(parts[1]) < 12 else None
    sub = await asyncio.to_thread(d.subscriptions.get, sub_id) if sub_id is not None else None
    if sub is None or sub.chat_id != chat_id:
        await query.answer()
        await send(update, context, tr._("That subscription is not one of yours, or it is gone. See /subscriptions."))
        return
    if len(parts) == 2:  # open: a new message, the list or the alert it came from stays as it is
        await query.answer()
        await context.bot.send_message(update.effective_chat.id, settings_text(sub, d, tr), parse_mode=ParseMode.HTML,
                                       reply_markup=settings_keyboard(sub, d, tr))
        return
    try:
        changed = await asyncio.to_thread(_change, d, sub, parts[2:], chat_id, tr)
    except SubscriptionError as exc:  # a rule changed under an old keyboard (a kind gone, say)
        log.warning("settings of subscription %s: %s", sub.id, exc)
        changed = None
    if changed is None or changed[0] is None:
        await query.answer(tr._("That button is no longer valid. Send /subscriptions to start again."))
        return
    sub, said = changed
    await query.answer(said)
    try:
        await query.edit_message_text(settings_text(sub, d, tr), parse_mode=ParseMode.HTML,
                                      reply_markup=settings_keyboard(sub, d, tr))
    except TelegramError:
        pass  # the message says this already, or is too old to edit: the change stands
