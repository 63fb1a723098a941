"""The plug-in points hold together: the schema's metric enum is the metric registry, every metric's settings
blocks exist in the schema, every figure spec has a notebook that expects its parameters, every family
declares the capabilities the metrics ask for, and no path template is written outside genlab/paths.py."""

import json
import os
import re
import subprocess
import sys

import pytest
import torch
import yaml

from genlab import config as cfg
from genlab import validation
from genlab.evaluation import METRICS, Run
from genlab.families import MODELS
from genlab.figures import FIGURES
from tests.conftest import REPO

PARAMS = validation.load_params(REPO / "params" / "default.yaml")


def test_schema_metric_enum_is_the_registry():
    enum = cfg.schema()["properties"]["experiments"]["items"]["properties"]["metrics"]["items"]["enum"]
    assert sorted(enum) == sorted(METRICS)


def test_every_metric_reads_blocks_the_schema_defines():
    blocks = set(cfg.schema()["properties"]["evaluation"]["properties"])
    for metric in METRICS.values():
        assert set(metric.settings) <= blocks, metric.name
        assert metric.output in ("json", "csv") and (metric.output == "csv") == (metric.plot is not None), metric.name
        assert metric.doc, f"metric {metric.name} has no docstring"


def test_every_metric_requirement_is_a_declared_capability():
    capabilities = set().union(*(family.capabilities for family in MODELS.values()))
    for metric in METRICS.values():
        assert metric.requires <= capabilities, metric.name
        # and some family can serve it
        assert any(metric.requires <= family.capabilities for family in MODELS.values()), metric.name


def test_every_family_class_takes_its_capabilities_from_the_torch_free_registry():
    from genlab.families import CAPABILITIES, FAMILIES
    assert set(MODELS) == set(FAMILIES) == set(CAPABILITIES)
    for name, family in MODELS.items():
        assert "capabilities" in vars(family) and family.capabilities == CAPABILITIES[name], name


def test_what_the_snakefile_and_the_figure_and_table_commands_import_needs_no_torch():
    """The params checks, the rules' inputs and outputs (the metric and figure registries), the figure, table
    and report commands and the data jobs of numpy-made kinds run without importing torch: 3 s of every
    Snakefile parse (each no-op, each DVC stage, each Slurm job) and of each such job on the project's CPU."""
    modules = ["genlab.cli", "genlab.validation", "genlab.pipeline", "genlab.figures", "genlab.tables",
               "genlab.claims", "genlab.dvc", "genlab.readme", "genlab.evaluation", "genlab.families", "genlab.data",
               "genlab.data.registry"]  # the data kinds import torch where they sample with it
    code = (f"import sys; import {', '.join(modules)}; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip() == "[]", result.stdout[:300]


@pytest.mark.parametrize("name", sorted(PARAMS["figures"]))
def test_figure_notebooks_expect_exactly_their_parameters(name):
    figure = FIGURES[name]
    notebook = json.loads((REPO / figure.notebook).read_text())
    cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert "parameters" in cells[0]["metadata"].get("tags", [])
    declared = set(re.findall(r"^(\w+) = ", "".join(cells[0]["source"]), flags=re.M))
    assert declared == set(figure.parameters(PARAMS)), name
    body = "".join("".join(c["source"]) for c in cells[1:])
    assert "results/" not in body and "figures/" not in body, f"{name}: the notebook spells a path"


def test_a_metric_that_needs_the_feature_net_refuses_to_run_without_it(tmp_path):
    from genlab.errors import ConfigError
    exp = cfg.experiment(PARAMS, "digits", "diffusion_vp")
    run = Run(PARAMS, exp, str(tmp_path / "x.npz"), str(tmp_path / "c.pt"))
    with pytest.raises(ConfigError, match="--feature-net"):
        run.classifier


def test_no_path_template_outside_paths_module():
    """The layout results/{dataset}/{model}/..., data/processed, figures/... is spelt in genlab/paths.py only
    (tests, docs and generated files aside)."""
    files = subprocess.run(["git", "ls-files", "src", "rules", "Snakefile", "notebooks"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    pattern = re.compile(r"""(?<!["'])f?["'](results|data/processed|figures)/""")  # a string literal, not a docstring
    offenders = [f for f in files if f != "src/genlab/paths.py" and pattern.search((REPO / f).read_text())]
    assert not offenders, offenders


def test_schema_figures_are_the_registry_and_blocks_are_checked_against_their_spec(tmp_path):
    from genlab.errors import ConfigError
    params = yaml.safe_load((REPO / "params" / "default.yaml").read_text())
    params["figures"]["training_curves"] = {"columns": 0}
    with pytest.raises(ConfigError, match="figures.training_curves.columns"):
        validation.validate(params)
    params["figures"] = {"no_such_figure": {}}
    with pytest.raises(ConfigError, match="unknown figure"):
        validation.validate(params)


def test_notebooks_started_at_once_each_run_in_a_kernel_of_their_own(tmp_path):
    """Figures and tables run side by side; each notebook's kernel listens on socket files of its own (TCP
    ports chosen by two launches at once collided in CI), every notebook finishes with its own parameter,
    and no socket file is left in the temp folder."""
    import nbformat
    notebook = tmp_path / "echo.ipynb"
    cells = [nbformat.v4.new_code_cell("value = 0"), nbformat.v4.new_code_cell(
        "from ipykernel.kernelapp import IPKernelApp\n"
        "import pathlib\n"
        "pathlib.Path(f'out_{value}.txt').write_text(f'{value} {IPKernelApp.instance().transport}')")]
    cells[0].metadata["tags"] = ["parameters"]
    book = nbformat.v4.new_notebook(cells=cells)
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(book, notebook)
    sockets = tmp_path / "tmp"
    sockets.mkdir()
    env = {**os.environ, "TMPDIR": str(sockets)}
    launches = [subprocess.Popen(
        [sys.executable, "-c", f"from genlab.figures import execute; execute('echo.ipynb', 'run_{i}.ipynb', "
                               f"{{'value': {i}}})"], cwd=tmp_path, env=env) for i in range(4)]
    assert [launch.wait(timeout=120) for launch in launches] == [0] * 4
    assert [(tmp_path / f"out_{i}.txt").read_text() for i in range(4)] == [f"{i} ipc" for i in range(4)]
    assert list(sockets.iterdir()) == []


class _CountingSampler(torch.nn.Module):
    """A stand-in model that counts the samples it is asked for (one network evaluation per call)."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.network_evaluations, self.drawn = 0, 0

    @property
    def device(self):
        return self.weight.device

    def sample(self, n, generator=None):
        self.network_evaluations += 1
        self.drawn += n
        return torch.randn(n, 1, 8, 8, generator=generator)


def test_cost_of_repeated_draws_is_their_median_time_and_mean_nfe():
    # an adaptive sampler's NFE differs per draw: whichever draw's time is the median, the NFE is the same
    from genlab.evaluation.cost import summarise_draws
    draws = [{"nfe": 129.0, "seconds_per_sample": 3e-4}, {"nfe": 120.0, "seconds_per_sample": 1e-4},
             {"nfe": 126.0, "seconds_per_sample": 2e-4}]
    for order in (draws, draws[::-1], draws[1:] + draws[:1]):
        assert summarise_draws(order) == {"nfe": 125.0, "seconds_per_sample": 2e-4}


@pytest.mark.parametrize("dataset,model", [("digits", "diffusion_vp"), ("ring", "diffusion_toy")])
def test_cost_times_the_fids_draw_when_the_experiment_has_both(dataset, model):
    """With `fid` among the experiment's metrics the cost metric is timed on the FID's draw, drawn once per
    process (Run.fid_draw); without it, on its own warm-up and repeats."""
    exp = cfg.experiment(PARAMS, dataset, model)
    run = Run(PARAMS, exp, data="unused", checkpoint="unused")
    sampler = _CountingSampler()
    run.__dict__.update(model=sampler, checkpoint={"step": 3, "elapsed_s": 1.5})
    result = METRICS["cost"].compute(run)
    fid, cost = run.settings("fid"), run.settings("cost")
    if "fid" in exp.metrics:
        samples, _ = run.fid_draw  # what the fid metric takes: the same draw, not a second one
        assert sampler.drawn == fid["n_samples"] == len(samples)
        assert sampler.network_evaluations == -(-fid["n_samples"] // fid["batch_size"])
        assert "the FID's draw" in result["timed"]
    else:
        assert sampler.drawn == min(8, cost["n_samples"]) + cost["repeats"] * cost["n_samples"]
        assert "median of" in result["timed"]
    assert result["nfe"] == 1 and result["seconds_per_sample"] > 0 and result["train_steps"] == 3
