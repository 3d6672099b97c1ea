"""The web board's words in English and Arabic, and which language a request gets.

The board's texts are few and fixed, so they live here as a table rather than in a gettext
catalogue; the level names and road statuses are the bot's Arabic words
(``bot/locale/ar/LC_MESSAGES/bot.po``), so a desk reads the same word on the board and in its alerts.
Place names are shown as the engine gives them.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["LANGUAGES", "Words", "pick_language", "words"]

LANGUAGES = ("en", "ar")

#: English text -> Arabic text. A text missing here shows in English (a test checks none is).
ARABIC: dict[str, str] = {
    # levels and statuses: the bot's catalogue's words
    "Insignificant": "ضئيل",
    "Low": "منخفض",
    "Medium": "متوسط",
    "High": "مرتفع",
    "Extreme": "شديد",
    "No recent reports": "لا تقارير حديثة",
    "open": "مفتوح",
    "restricted": "مقيّد",
    "checkpoint": "نقطة تفتيش",
    "closed": "مغلق",
    # the board
    "Road risk board": "لوحة مخاطر الطرق",
    "Main routes": "الطرق الرئيسية",
    "Route": "الطريق",
    "Level": "المستوى",
    "Score": "الدرجة",
    "Status": "الحالة",
    "Distance": "المسافة",
    "Worst stretch": "أخطر مقطع",
    "Map": "الخريطة",
    "Full-page map": "خريطة بملء الصفحة",
    "The map is not available.": "الخريطة غير متاحة.",
    "Recent events": "الأحداث الأخيرة",
    "Date": "التاريخ",
    "Event": "الحدث",
    "Tags": "الوسوم",
    "Summary": "الملخص",
    "Sources": "المصادر",
    "reports": "تقارير",
    "No events.": "لا أحداث.",
    "Ask about a route": "استعلام عن طريق",
    "From": "من",
    "To": "إلى",
    "Time (optional)": "الوقت (اختياري)",
    "Ask": "استعلم",
    "All segments": "كل المقاطع",
    "Segment": "المقطع",
    "Road": "الطريق",
    "as of": "حتى",
    "Data": "البيانات",
    "live: updates when the store changes": "مباشر: يتحدّث عند تغيّر البيانات",
    "updated": "تم التحديث",
    "Back to the board": "العودة إلى اللوحة",
    # a route
    "via": "عبر",
    "Segments": "المقاطع",
    "Events that weigh most": "الأحداث الأكثر تأثيراً",
    "Weight": "الوزن",
    "Safer alternative": "بديل أكثر أماناً",
    "avoids": "يتجنب",
    "Avoided closed segments": "مقاطع مغلقة تم تجنّبها",
    "Closed segments on the route": "مقاطع مغلقة على الطريق",
    "What this rests on": "ما يستند إليه التقييم",
    "events": "أحداث",
    "sources": "مصادر",
    "newest event": "أحدث حدث",
    "in the last": "خلال آخر",
    "days": "أيام",
    "sources last polled": "آخر استطلاع للمصادر",
    "No recent reports on": "لا تقارير حديثة عن",
    "no report is not the same as safe": "غياب التقارير لا يعني الأمان",
    "did you mean": "هل تقصد",
    # a segment
    "Why this score": "لماذا هذه الدرجة",
    "Formula": "المعادلة",
    "Total weight": "مجموع الأوزان",
    "Kept share": "الحصة المتبقية",
    "Road status": "حالة الطريق",
    "since": "منذ",
    "until": "حتى",
    "said by": "المصدر",
    "Rule": "القاعدة",
    "Severity": "الشدة",
    "Age (days)": "العمر (أيام)",
    "Time decay": "تناقص زمني",
    "Distance (km)": "المسافة (كم)",
    "Distance decay": "تناقص بالمسافة",
    "Confidence": "الثقة",
    "Deaths boost": "معامل القتلى",
    "Relief": "التخفيف",
    "Coverage": "التغطية",
    "covered": "مغطّى",
    "not covered": "غير مغطّى",
    "km": "كم",
    # analysts
    "Analyst": "المحلل",
    "Analyst sign-in": "دخول المحلل",
    "Token": "الرمز",
    "Sign in": "دخول",
    "Sign out": "خروج",
    "Wrong token.": "رمز خاطئ.",
    "Set the road status": "تعيين حالة الطريق",
    "Why": "السبب",
    "Until (optional)": "حتى (اختياري)",
    "Set": "تعيين",
    "Retract": "سحب",
    "Restore": "استعادة",
    "retracted": "مسحوب",
    "active": "نشط",
    "Error": "خطأ",
    "Not found": "غير موجود",
}


class Words:
    """The texts of one language: ``words("Main routes")``; ``rtl`` and ``lang`` for the page."""

    def __init__(self, lang: str):
        self.lang = lang if lang in LANGUAGES else "en"
        self.rtl = self.lang == "ar"
        self.dir = "rtl" if self.rtl else "ltr"

    def __call__(self, text: str) -> str:
        return ARABIC.get(text, text) if self.rtl else text

    def level(self, name: str) -> str:
        """A level's name as the engine gives it (``High``, ``No recent reports``), in this language."""
        return self(name)


def words(lang: str) -> Words:
    return Words(lang)


def _accepted(header: str) -> list[str]:
    """The languages of an Accept-Language header, most wanted first.

    Examples
    --------
    >>> _accepted("fr-FR,fr;q=0.9,ar;q=0.8,en;q=0.7")
    ['fr', 'ar', 'en']
    >>> _accepted("en-US;q=0.5, ar-LY")
    ['ar', 'en']
    """
    ranked = []
    for n, part in enumerate(header.split(",")):
        code, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        base = code.strip().lower().split("-", 1)[0]
        if base and q > 0:
            ranked.append((-q, n, base))
    return list(dict.fromkeys(base for _, _, base in sorted(ranked)))


def pick_language(query: Mapping[str, str], accept_language: str | None, default: str | None) -> str:
    """``?lang=`` wins; then the server's ``--lang``; then the browser's Accept-Language; else English.

    Examples
    --------
    >>> pick_language({"lang": "ar"}, "en", None), pick_language({}, "ar-LY,en;q=0.5", None)
    ('ar', 'ar')
    >>> pick_language({}, "ar", "en"), pick_language({"lang": "xx"}, None, None)
    ('en', 'en')
    """
    asked = (query.get("lang") or "").strip().lower()
    if asked in LANGUAGES:
        return asked
    if default in LANGUAGES:
        return default
    for code in _accepted(accept_language or ""):
        if code in LANGUAGES:
            return code
    return "en"
