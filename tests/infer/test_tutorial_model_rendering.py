"""tutorial/model_rendering.py: the graphs of Pyro's model_rendering tutorial models
(nodes per plate, plate nesting, edges, observed sites), and their DOT drawings."""

import importlib.util
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parents[2] / "tutorial" / "model_rendering.py"


@pytest.fixture(scope="module")
def results():
    import importlib.util as iu
    import sys

    spec = iu.spec_from_file_location("model_rendering", TUTORIAL)
    module = iu.module_from_spec(spec)
    sys.modules["model_rendering"] = module
    spec.loader.exec_module(module)
    return module, module.main([])


def test_single_run_graphs(results):
    _, res = results
    (normal,) = res["normal"]
    assert normal["plate_groups"] == {"N": ["obs"], None: ["m", "sd"]}
    assert normal["edge_list"] == [("m", "sd"), ("m", "obs"), ("sd", "obs")]
    assert normal["node_data"]["obs"]["is_observed"] and not normal["node_data"]["m"]["is_observed"]
    assert normal["node_data"]["sd"]["distribution"] == "LogNormal"

    (mace,) = res["mace"]
    assert mace["plate_groups"]["annotator"] == ["ε", "θ"]
    assert mace["plate_groups"]["item"] == ["c", "s", "y"]
    assert mace["plate_groups"]["position"] == ["s", "y"]
    assert mace["plate_data"] == {
        "annotator": {"parent": None},
        "item": {"parent": None},
        "position": {"parent": "item"},
    }
    assert sorted(mace["edge_list"]) == sorted([("θ", "s"), ("ε", "y"), ("c", "y"), ("s", "y")])
    assert mace["relations"]["observed"] == ["y"]


def test_params_overlapping_plates_and_deterministic(results):
    _, res = results
    (params,) = res["params"]
    assert params["plate_groups"] == {"N": ["z"], None: ["x", "y", "sigma", "mu"]}
    assert set(params["edge_list"]) == {
        ("x", "y"),
        ("x", "z"),
        ("y", "z"),
        ("sigma", "x"),
        ("mu", "x"),
    }
    assert params["node_data"]["sigma"]["constraint"] == "GreaterThan(lower_bound=0.0)"
    assert params["node_data"]["mu"]["constraint"] == "Real()"
    # y sits in both plates; z only in plate2: plate2 is split so plates nest
    (overlap,) = res["overlapping_plates"]
    groups = {k: v for k, v in overlap["plate_groups"].items() if v}
    assert groups["plate1"] == ["x", "y"]
    assert ["z"] in groups.values() and ["y"] in groups.values()
    assert overlap["edge_list"] == [("x", "y"), ("y", "z")]
    (det,) = res["deterministic"]
    assert det["plate_groups"]["N"] == ["eps_z_loc", "z_loc", "z"]
    assert ("y", "y_deterministic") in det["edge_list"]
    assert ("z_loc", "z") in det["edge_list"] and ("eps_z_loc", "z_loc") in det["edge_list"]
    assert det["node_data"]["z_loc"]["distribution"] == "Deterministic"


def test_semi_supervised_runs_differ_only_in_observed(results):
    _, res = results
    unlabeled, labeled = res["semi_supervised"]
    assert unlabeled["edge_list"] == labeled["edge_list"] == [("z", "x"), ("y", "x")]
    assert unlabeled["relations"]["observed"] == ["x"]
    assert labeled["relations"]["observed"] == ["y", "x"]


@pytest.mark.skipif(importlib.util.find_spec("graphviz") is None, reason="needs graphviz")
def test_dot_drawings(results, tmp_path):
    module, _ = results
    module.main(["--out", str(tmp_path)])
    normal = (tmp_path / "normal.gv").read_text()
    assert "subgraph cluster_N" in normal and "m -> sd" in normal
    assert "obs [label=obs fillcolor=gray" in normal
    merged = (tmp_path / "semi_supervised.gv").read_text()
    assert 'y [label=y fillcolor="gray:white"' in merged  # observed in one run of two
    assert "x [label=x fillcolor=gray" in merged
