"""The blocks of the benchmarks that measure what the default run leaves out (benchmarks/conditional28.py: the
conditional tasks; benchmarks/multiscale32.py: multi-scale diffusion on 32x32 digits): each is a default-run block
with only the keys the benchmark names changed, and the params the benchmark writes validate, so that it measures
what it says it measures when the default blocks change."""

import copy
import sys

import yaml

from genlab import config
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import conditional28  # noqa: E402
import multiscale32  # noqa: E402

PARAMS = yaml.safe_load(open(REPO / "params" / "default.yaml"))


def changed_keys(block: dict, source: dict) -> set[str]:
    return {key for key in block.keys() | source.keys() if block.get(key) != source.get(key)}


def test_each_block_is_a_default_block_with_only_the_task_changed():
    models = PARAMS["models"]
    measured = conditional28.blocks(models)
    assert not set(measured) & set(models)  # the default run's own experiments are read, not retrained
    for name, (dataset, block) in measured.items():
        design, task = next((d, t) for d in (*conditional28.ESTIMATORS, *conditional28.FLOWS)
                            for t in conditional28.TASKS if name in (f"{d}_{t}28", f"{d}_{t}"))
        if dataset == "mnist28":
            flow = design in conditional28.FLOWS
            source = models["caflow_superres28" if flow else f"{design}_superres28"]
            allowed = {"condition", "condition_sde", "condition_schedule", "design"}
            assert block["condition"] == (source["condition"] if task == "superres"
                                          else models[f"{'caflow' if flow else design}_{task}"]["condition"])
        else:
            source, allowed = models[f"caflow_{task}"], {"design"}
        assert changed_keys(block, source) <= allowed, name
        if design in conditional28.FLOWS:
            assert block["design"] == design
    # VS-CMDE's condition noise reaches the task's target at the 8x8 block's share of training
    for task in ("inpaint", "edges"):
        small, block = models[f"vs_cmde_{task}"], measured[f"vs_cmde_{task}28"][1]
        assert block["condition_schedule"]["reach_target_steps"] / block["training"]["steps"] == \
            small["condition_schedule"]["reach_target_steps"] / small["training"]["steps"]
        assert block["condition_sde"]["sigma_max"] == 28.0  # sqrt(D_y) of a 28x28 condition


def test_the_default_params_with_every_block_as_an_experiment_validate():
    params = copy.deepcopy(PARAMS)
    for name, (dataset, block) in conditional28.blocks(params["models"]).items():
        params["models"][name] = block
        params["experiments"].append({"dataset": dataset, "model": name, "metrics": ["conditional"]})
    config.validate(params, "benchmark params")


def test_multiscale32_changes_only_the_padding_levels_steps_and_batch():
    params = multiscale32.benchmark_params(PARAMS, 1200, 2760)
    config.validate(params, "benchmark params")
    assert params["datasets"]["mnist28"] == {**PARAMS["datasets"]["mnist28"], "pad": 2}  # 32x32, as thesis.yaml's
    for name, steps in zip(multiscale32.MODELS, (1200, 2760)):
        block, source = params["models"][name], PARAMS["models"][name]
        assert changed_keys(block, source) <= {"training", "levels"}
        assert changed_keys(block["training"], source["training"]) == {"steps", "batch_size"}
        assert (block["training"]["steps"], block["training"]["batch_size"]) == (steps, 64)
    assert params["models"]["multiscale"]["levels"] == 3
    assert PARAMS["models"]["multiscale"]["training"]["steps"] == 1750  # the default params are left as they were
    assert [(e["model"], e["metrics"]) for e in params["experiments"]] == [
        ("classifier", ["accuracy"]), ("diffusion_unet", ["fid", "cost"]), ("multiscale", ["fid", "cost"])]
