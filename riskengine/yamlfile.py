"""YAML for rule, seed and configuration files: safe, fast (libyaml when present) and strict about
duplicated keys, which plain YAML accepts silently (the last one wins) and which in a rule file is
almost always a mistake that changes the rules without anyone noticing."""

from __future__ import annotations

from typing import Any

import yaml

try:  # the C parser: about ten times faster on our rule files
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - libyaml is bundled with PyYAML's wheels
    from yaml import SafeLoader as _SafeLoader

__all__ = ["load"]


class _UniqueKeyLoader(_SafeLoader):
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
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a safe loader
