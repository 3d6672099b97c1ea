"""YAML for rule, seed and configuration files: safe, fast (libyaml when present) and strict about
duplicated keys, which plain YAML accepts silently (the last one wins) and which in a rule file is
almost always a mistake that changes the rules without anyone noticing.

PyYAML is imported on first use: a command that finds its rules, gazetteer and road network in the
compiled cache (:mod:`riskengine.compiled`) reads no YAML and need not pay for the import.
"""

from __future__ import annotations

from functools import cache
from typing import Any

__all__ = ["load", "version"]


@cache
def _loader() -> type:
    """A safe loader (the C one when libyaml is there) that refuses a mapping with the same key twice."""
    import yaml  # noqa: PLC0415 - see the module's docstring

    try:  # the C parser: about ten times faster on our rule files
        from yaml import CSafeLoader as safe_loader  # noqa: PLC0415
    except ImportError:  # pragma: no cover - libyaml is bundled with PyYAML's wheels
        from yaml import SafeLoader as safe_loader  # noqa: PLC0415

    class _UniqueKeyLoader(safe_loader):
        """A safe loader that refuses a mapping with the same key twice."""

        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen: set = set()
                for key_node, _ in node.value:
                    key = self.construct_object(key_node, deep=True)
                    try:
                        duplicate = key in seen
                        seen.add(key)
                    except TypeError:  # an unhashable key: the constructor below says what is wrong
                        continue
                    if duplicate:
                        raise yaml.constructor.ConstructorError(
                            "while reading a mapping", node.start_mark, f"found the key {key!r} twice",
                            key_node.start_mark)
            return super().construct_mapping(node, deep=deep)

    return _UniqueKeyLoader


def load(text: str) -> Any:
    """Parse YAML text; ``yaml.YAMLError`` (with the line) for bad YAML or a key given twice.

    Examples
    --------
    >>> load("a: 1\\nb: [x, y]")
    {'a': 1, 'b': ['x', 'y']}
    >>> load("a: 1\\na: 2")
    Traceback (most recent call last):
    ...
    yaml.constructor.ConstructorError: while reading a mapping
    ...
    """
    import yaml  # noqa: PLC0415 - see the module's docstring

    return yaml.load(text, Loader=_loader())  # noqa: S506 - a safe loader


def version() -> str:
    """PyYAML's version (``yaml.__version__``), for the keys of the compiled cache, read from the
    installed package's metadata so that PyYAML itself need not be imported."""
    from riskengine.compiled import package_version  # noqa: PLC0415

    return package_version("PyYAML", "yaml")
