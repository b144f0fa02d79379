"""Build the runs of a parsed TOML configuration, checking every table and key at once.

Used by :func:`factorprobe.pipeline.config.parse_config` only: each table is checked key by key (a
bad key
is recorded and left at its default, so that the others are still checked), each run's checks
across tables follow, and one error lists every problem of every run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from factorprobe.pipeline import _config_checks as ck


def parse_runs(
    raw: Mapping[str, Any],
    *,
    base_dir: str,
    tables: Mapping[str, type],
    make_run: Callable[..., Any],
) -> list[Any]:
    """The runs of a parsed TOML document: ``tables`` maps table names to their dataclasses,
    ``make_run`` builds one run from them (``name=``, ``base_dir=`` and one keyword per table).

    Raises one error listing every problem of every table and run.
    """
    top_keys = ("name", *tables, "run")
    ck.keys(raw, top_keys, "the top level")
    shared = {k: v for k, v in raw.items() if k != "run"}
    runs = raw.get("run", [])
    if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
        raise TypeError(f"'run' must be a list of [[run]] tables; got {runs!r}.")
    problems: list[Exception] = []
    if not runs:
        config = _build(shared, base_dir, tables, make_run, problems)
        ck.raise_all(problems)
        assert config is not None  # built when there was no problem
        return [config]
    configs: list[Any] = []
    for i, override in enumerate(runs, start=1):
        ck.keys(override, top_keys[:-1], f"[[run]] number {i}")
        if "name" not in override:
            raise ValueError(f"[[run]] number {i} needs a 'name' (it names the run's folder).")
        merged = dict(shared)
        for key, value in override.items():
            if key in tables and isinstance(value, dict):
                merged[key] = {**shared.get(key, {}), **value}
            else:
                merged[key] = value
        found: list[Exception] = []
        configs.append(_build(merged, base_dir, tables, make_run, found))
        problems += [ck.prefixed(p, f"run {override['name']!r}: ") for p in found]
    ck.raise_all(problems)
    names = [c.name for c in configs if c is not None]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(
            f"Run names must be distinct (they name folders); {repeated[0]!r} repeats."
        )
    return configs


def _build(
    raw: Mapping[str, Any],
    base_dir: str,
    tables: Mapping[str, type],
    make_run: Callable[..., Any],
    problems: list[Exception],
) -> Any:
    """The run of one merged TOML document; every problem is appended to ``problems``.

    Each table is checked key by key; the checks across tables (factors against the grid) run
    when every table is valid, since a key left at its default could give a false alarm there.
    """
    sections: dict[str, Any] = {}
    clean = True
    for key, cls in tables.items():
        if key not in raw:
            continue
        table = raw[key]
        if not isinstance(table, dict):
            problems.append(TypeError(f"[{key}] must be a table; got {table!r}."))
            clean = False
            continue
        names = [f.name for f in fields(cls)]
        found: list[Exception] = [*ck.unknown_keys(table, names, f"[{key}]")]
        known = {k: v for k, v in table.items() if k in names}
        section = ck.checked_table(cls, known, found)
        problems += found
        clean = clean and not found
        if section is not None:
            sections[key] = section
    if not clean:
        return None
    try:
        return make_run(name=raw.get("name", "default"), base_dir=base_dir, **sections)
    except (ValueError, TypeError) as err:
        problems.append(err)
        return None
