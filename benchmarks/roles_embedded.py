"""Role table, PID and between-layer predictivity of the embedded network (and a random-init
copy) on a 6 x 6 x 6 disc grid: the numbers quoted in docs/roles.md.

Run: .venv/bin/python benchmarks/roles_embedded.py
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import torch

import factorprobe as fp
from factorprobe.analysis import (
    layer_predictivity,
    partial_information,
    role_correlations,
    role_table,
)
from factorprobe.interventions import jacobian_measures


def random_init(model):
    module = copy.deepcopy(model.module)
    torch.manual_seed(0)
    for m in module.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return dataclasses.replace(model, module=module)


def main() -> None:
    trained = fp.probing.load_model("embedded")
    levels = np.linspace(0, 1, 6)
    space = fp.stimuli.grid(size=list(16 + 32 * levels), x=list(60 + 104 * levels),
                            y=list(60 + 104 * levels), shape="disc")  # fmt: skip
    stim = fp.stimuli.render(space)
    for label, model in (("trained", trained), ("random init", random_init(trained))):
        acts = fp.probing.capture(model, stim, layers=["fc1", "fc2", "fc3"])
        jac = jacobian_measures(model, stim, layers=["fc1", "fc2", "fc3"])
        pid = partial_information(acts, n_permutations=100)
        roles = role_table(acts, jacobian=jac, pid=pid)
        corr = role_correlations(roles, n_boot=1000)
        print(f"== {label}")
        summary = roles.to_dataframe().groupby("layer").median(numeric_only=True)
        print(summary.drop(columns=["index"], errors="ignore").round(3).T.to_string())
        for a, b in (("linearity", "jacobian_variability"), ("linearity", "input_participation"),
                     ("linearity", "entropy"), ("jacobian_variability", "pid_synergy"),
                     ("linearity", "pid_synergy")):  # fmt: skip
            c = corr.sel(variable=a, other_variable=b)
            text = ", ".join(
                f"{layer} {float(c.spearman.sel(layer=layer)):+.2f} "
                f"[{float(c.ci_low.sel(layer=layer)):+.2f}, "
                f"{float(c.ci_high.sel(layer=layer)):+.2f}]"
                for layer in corr.layer.values
            )
            print(f"spearman({a}, {b}): {text}")
        p = pid.groupby("layer").mean()
        print("PID means (bits):")
        print(
            p[["pid_redundancy", "pid_synergy", "pid_mi_joint"]].to_dataframe().round(3).to_string()
        )
        print(p["pid_unique"].to_pandas().round(3).to_string())
        print("layer predictivity r2 (row predicts column):")
        print(layer_predictivity(acts)["r2"].to_pandas().round(3).to_string())
        print("CKA:")
        print(fp.analysis.cka(acts).to_pandas().round(3).to_string())


if __name__ == "__main__":
    main()
