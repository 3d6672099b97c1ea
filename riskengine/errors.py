"""One base error for the engine; each subclass also inherits the builtin it resembles."""

from __future__ import annotations


class RiskEngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class UnknownPlaceError(RiskEngineError, LookupError):
    """A place name the gazetteer does not know; carries the closest known names."""

    def __init__(self, name: str, suggestions: list[str] | None = None):
        self.name = name
        self.suggestions = list(suggestions or [])
        hint = f"; did you mean: {', '.join(self.suggestions)}?" if self.suggestions else ""
        shown = name if len(name) <= 60 else name[:57] + "..."
        super().__init__(f"unknown place {shown!r}{hint}")


class RuleFileError(RiskEngineError, ValueError):
    """A rule file that cannot be loaded: names the file, the rule id and the field."""

    def __init__(self, file: str, rule_id: str | None, field: str | None, problem: str):
        self.file, self.rule_id, self.field, self.problem = file, rule_id, field, problem
        where = file
        if rule_id:
            where += f": rule {rule_id!r}"
        if field:
            where += f": field {field!r}"
        super().__init__(f"{where}: {problem}")


class SeedDataError(RiskEngineError, ValueError):
    """A seed file (places, roads, areas) that is missing or inconsistent."""


class InputRowError(RiskEngineError, ValueError):
    """One malformed row of an input file: names the file, the line and the problem."""

    def __init__(self, source: str, line: int, problem: str):
        self.source, self.line, self.problem = source, line, problem
        super().__init__(f"{source}:{line}: {problem}")


class InputFileError(RiskEngineError, ValueError):
    """An input file that cannot be read at all (missing, unknown format, no usable columns)."""


class NoRouteError(RiskEngineError, LookupError):
    """No road connects the two places asked for."""


class UnknownSegmentError(RiskEngineError, LookupError):
    """A segment id that the road network does not have; carries the closest ids."""

    def __init__(self, segment_id: str, suggestions: list[str] | None = None):
        self.segment_id = segment_id
        self.suggestions = list(suggestions or [])
        hint = f"; did you mean: {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"unknown segment {segment_id!r}{hint}")


class BadTimeError(RiskEngineError, ValueError):
    """A date or time argument that is not YYYY-MM-DD or ISO 8601."""
