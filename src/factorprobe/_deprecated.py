"""Import shims for the paths that moved in 0.2, kept for one release."""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType

#: old public module path -> the module that now holds its contents
MOVED_MODULES = {
    "factorprobe.files": "factorprobe.io.files",
    "factorprobe.tables": "factorprobe.io.tables",
    "factorprobe.cluster": "factorprobe.scheduler",
    "factorprobe.run": "factorprobe.pipeline.runner",
    "factorprobe.config": "factorprobe.pipeline.config",
    "factorprobe.probing.store": "factorprobe.io.store",
    "factorprobe.analysis.ablation": "factorprobe.interventions.ablation",
    "factorprobe.analysis.input_gradients": "factorprobe.interventions.saliency",
}

#: names a moved module had that now live elsewhere: old module -> {name: new module}
MOVED_NAMES = {
    "factorprobe.analysis.ablation": {"write_ablation": "factorprobe.pipeline.ablate"},
}

#: names :mod:`factorprobe.analysis` exported that now live elsewhere: name -> new module
ANALYSIS_MOVED = {
    "ablated": "factorprobe.interventions",
    "cumulative_ablation": "factorprobe.interventions",
    "double_dissociation": "factorprobe.interventions",
    "saliency": "factorprobe.interventions",
    "write_ablation": "factorprobe.pipeline.ablate",
    "factor_codes": "factorprobe.analysis.design",
    "benjamini_hochberg": "factorprobe.analysis.significance",
    "planted_units": "factorprobe.analysis.planted",
}

#: names renamed in 0.2 so that one name has one meaning: module -> {old name: new name}; the
#: old name, read from the module, warns and returns the object of the new one
RENAMED = {
    "factorprobe.stimuli": {"factor_dependence": "factor_mutual_information"},
    "factorprobe.stimuli.dependence": {"factor_dependence": "factor_mutual_information"},
    "factorprobe.analysis": {"factor_dependence": "design_dependence"},
    "factorprobe.analysis.design": {"factor_dependence": "design_dependence"},
}

#: keyword parameters renamed in 0.2: function -> {old keyword: new keyword}
RENAMED_KEYWORDS = {
    "two_way_anova": {"correction": "multiple_testing"},
    "run": {"quiet": "progress"},
    "capture_run": {"quiet": "progress"},
}


def _warn(message: str) -> None:
    """Warn that an old path or name was used, pointing at the code that used it."""
    warnings.warn(message, DeprecationWarning, stacklevel=4)


def renamed_name(module: str, name: str) -> object:
    """The object a renamed ``module.name`` now has another name for, with a warning.

    Parameters
    ----------
    module : str
        The dotted path of the module the name is read from (a key of :data:`RENAMED`).
    name : str
        The old name.

    Raises
    ------
    AttributeError
        ``name`` was not renamed in ``module``.
    """
    new = RENAMED.get(module, {}).get(name)
    if new is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    _warn(f"{module}.{name} is renamed {module}.{new}; the old name works until the next release.")
    return getattr(importlib.import_module(module), new)


def renamed_keyword(function: str, old: str) -> None:
    """Warn that the keyword ``old`` of ``function`` is renamed (the caller maps its value).

    Parameters
    ----------
    function : str
        The function's name (a key of :data:`RENAMED_KEYWORDS`).
    old : str
        The old keyword, which the caller received.
    """
    new = RENAMED_KEYWORDS[function][old]
    _warn(
        f"The {old!r} parameter of {function} is renamed {new!r}; the old name works until "
        f"the next release."
    )


def moved_name(package: str, name: str, new: str) -> object:
    """The object ``name`` from module ``new``, with a warning that ``package.name`` moved.

    Parameters
    ----------
    package : str
        The dotted path the name used to be read from.
    name : str
        The attribute asked for.
    new : str
        The module that holds it now.
    """
    _warn(f"{package}.{name} moved to {new}.{name}; the old name works until the next release.")
    return getattr(importlib.import_module(new), name)


def moved_module(old: str, namespace: dict[str, object]) -> None:
    """Fill a shim module's ``namespace`` from the module its contents moved to, with a warning.

    Parameters
    ----------
    old : str
        The shim's own dotted path (a key of :data:`MOVED_MODULES`).
    namespace : dict
        The shim's ``globals()``; the new module's public names are copied into it.
    """
    new = MOVED_MODULES[old]
    _warn(f"{old} moved to {new}; the old path works until the next release.")
    module: ModuleType = importlib.import_module(new)
    names = getattr(module, "__all__", [n for n in vars(module) if not n.startswith("_")])
    namespace.update({name: getattr(module, name) for name in names})
    extra = MOVED_NAMES.get(old, {})
    namespace.update({n: getattr(importlib.import_module(m), n) for n, m in extra.items()})
    namespace["__all__"] = [*names, *extra]
