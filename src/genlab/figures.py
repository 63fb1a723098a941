"""The figure registry: one spec per figure, the only place that says what a figure reads and writes.

A figure is a params block under `figures:` (leave it out to skip the figure), a notebook
`notebooks/{name}.ipynb` executed by papermill, and a spec here: its settings (a JSON-schema fragment the
block is checked against), the metric files it reads from every experiment the block names (`dataset` /
`datasets` x `model` / `models`, or `runs`: dataset -> models), whether it reads those runs' samples, data files or training logs, other
inputs, the
figures it draws with their report captions, and whether it also writes a table
(results/analysis/{name}.{csv,tex,json}). The one generic Snakemake rule (rules/figures.smk), DVC, the
config checks and `genlab figure` derive everything from the spec. See README, "Adding a figure"."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from genlab import paths

NAMES = {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "string"}}
GRID = {"type": "integer", "minimum": 1, "maximum": 32, "description": "samples per side of a grid"}
COUNT = {"type": "integer", "minimum": 1}
SIZES = {"type": "array", "minItems": 2, "uniqueItems": True, "items": {"type": "integer", "minimum": 2}}


def _block_schema(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": required, "properties": properties}


def _runs(description: str) -> dict[str, Any]:
    """The schema of a block's ``runs``: dataset -> the models the figure draws on it."""
    return {"type": "object", "minProperties": 1, "additionalProperties": NAMES, "description": description}


@dataclass(frozen=True)
class Figure:
    """``files``: figure stem -> its report caption (str.format'ed with the block and the params, so a caption
    can name the block's dataset). ``reads``: metrics read from every run. ``inputs``: further inputs,
    params -> {notebook parameter: [paths]}. ``check``: further cross-references, (params, block) -> an
    error message or None."""

    name: str
    category: str
    files: dict[str, str]
    schema: dict[str, Any]
    reads: tuple[str, ...] = ()
    samples: bool = False
    data: bool = False
    train_logs: bool = False
    table: bool = False
    inputs: Callable[[dict[str, Any]], dict[str, list[str]]] | None = None
    check: Callable[[dict[str, Any], dict[str, Any]], str | None] | None = None
    runs_of: Callable[[dict[str, Any]], list[tuple[str, str]]] | None = None
    notebook_name: str | None = None
    description: str = field(default="", compare=False)

    @property
    def notebook(self) -> str:
        """notebooks/{name}.ipynb, or a notebook several figures share (``notebook_name``)."""
        return f"notebooks/{self.notebook_name or self.name}.ipynb"

    def runs(self, params: dict[str, Any]) -> list[tuple[str, str]]:
        """The (dataset, model) experiments the figure draws."""
        if self.runs_of is not None:
            return self.runs_of(params)
        block = params["figures"][self.name]
        if "runs" in block:  # dataset -> the models drawn on it
            return [(dataset, model) for dataset, models in block["runs"].items() for model in models]
        datasets = block.get("datasets", [block["dataset"]] if "dataset" in block else [])
        models = block.get("models", [block["model"]] if "model" in block else [])
        return [(dataset, model) for dataset in datasets for model in models]

    def input_files(self, params: dict[str, Any]) -> dict[str, list[str]]:
        """Notebook parameter -> the files it names, in run order (also the rule's named inputs)."""
        from genlab.evaluation import get
        runs = self.runs(params)
        files = {name: [get(name).path(d, m) for d, m in runs] for name in self.reads}
        if self.samples:
            files["samples"] = [paths.samples(d, m) for d, m in runs]
        if self.data:
            files["data"] = [paths.data(d) for d, _ in runs]
        if self.train_logs:
            files["train_log"] = [paths.train_log(d, m) for d, m in runs]
        if self.inputs is not None:
            files.update(self.inputs(params))
        return files

    def figure_files(self) -> dict[str, str]:
        """Figure stem -> its path without extension (the notebook saves PDF and PNG there)."""
        return {stem: str(Path(paths.figure(stem, "pdf")).with_suffix("")) for stem in self.files}

    def table_files(self) -> dict[str, str]:
        return {ext: paths.analysis(self.name, ext) for ext in ("csv", "tex", "json")} if self.table else {}

    def outputs(self) -> list[str]:
        """Every file the figure job writes (figures, its table, the executed notebook, the captions)."""
        return [*(paths.figure(stem, ext) for stem in self.files for ext in ("pdf", "png")),
                *self.table_files().values(), paths.executed_notebook(self.name),
                *(paths.caption(stem) for stem in self.files)]

    def parameters(self, params: dict[str, Any]) -> dict[str, Any]:
        """The notebook's parameters, typed (lists are lists): its inputs, the block's settings, the runs
        ("dataset/model") and where to write."""
        return {**self.input_files(params), "settings": params["figures"][self.name],
                "runs": [f"{d}/{m}" for d, m in self.runs(params)], "figures": self.figure_files(),
                "table": self.table_files()}

    def captions(self, params: dict[str, Any]) -> dict[str, str]:
        block = params["figures"][self.name]
        return {stem: " ".join(caption.format(block=block, params=params).split()) + "\n"
                for stem, caption in self.files.items()}


FIGURES: dict[str, Figure] = {}


def execute(notebook: str, executed: str, parameters: dict[str, Any]) -> None:
    """Run a notebook through papermill with typed parameters; the executed copy is kept at ``executed``."""
    import papermill
    Path(executed).parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(notebook, executed, parameters=parameters, progress_bar=False, cwd=str(Path.cwd()),
                               kernel_manager_class=_socket_file_kernel_manager())


def _socket_file_kernel_manager() -> type:
    """A Jupyter kernel manager whose kernel listens on Unix socket files with a name of its own.

    Over TCP (jupyter_client's default) the client picks five free ports and the kernel binds them later; a
    notebook started at the same moment (Snakemake runs figures and tables side by side) can take the same
    ports, and its kernel dies on binding or the client waits on a kernel that is not there. Twelve launches
    at once, 24 rounds on a 2-core machine: 3 of 288 failed over TCP (one hung for good, one "didn't
    respond in 60 s", one "died before replying"), none of 288 over these files; CI failed once on a table
    job this way. jupyter_client's own default name for socket files,
    "kernel-ipc" in the working folder, is shared by every kernel, hence a fresh name under the temp folder;
    the files go when the kernel shuts down. A socket's path must fit in 107 bytes, hence /tmp where the
    temp folder's path is long (as a cluster's per-job TMPDIR can be)."""
    import tempfile
    import uuid

    from jupyter_client.manager import KernelManager

    class SocketFileKernelManager(KernelManager):
        def __init__(self, **kwargs: Any) -> None:
            folder = tempfile.gettempdir() if len(tempfile.gettempdir()) < 64 else "/tmp"
            name = Path(folder) / f"genlab-kernel-{uuid.uuid4().hex[:12]}"
            super().__init__(transport="ipc", ip=str(name), **kwargs)

    return SocketFileKernelManager


def register(figure: Figure) -> Figure:
    if figure.name in FIGURES:
        raise ValueError(f"figure {figure.name!r} is declared twice")
    FIGURES[figure.name] = figure
    return figure


def _feature_net_floor(params: dict[str, Any]) -> dict[str, list[str]]:
    from genlab.evaluation import get
    block = params["figures"]["diffusion_samplers"]
    return {"accuracy": [get("accuracy").path(block["dataset"], params["evaluation"]["fid"]["feature_model"])]}


def _floor_listed(params: dict[str, Any], block: dict[str, Any]) -> str | None:
    feature_model = params["evaluation"]["fid"]["feature_model"]
    listed = [e for e in params["experiments"] if (e["dataset"], e["model"]) == (block["dataset"], feature_model)]
    if not (listed and "accuracy" in listed[0]["metrics"]):
        return (f"the feature net experiment {block['dataset']}/{feature_model} must list metric 'accuracy' (the "
                f"figure draws its held-out FID floor)")
    return None


register(Figure(
    "diffusion_samplers", "Diffusion samplers",
    files={"diffusion_samples": "Samples of the diffusion model {block[model]} trained on {block[dataset]}, drawn "
                                "with its default sampler.",
           "fid_vs_nfe": "FID against the number of network evaluations per sample for the SDE samplers "
                         "(Euler-Maruyama, predictor-corrector, DDPM ancestral; solid) and the ODE samplers (DDIM, "
                         "adaptive probability-flow ODE; dashed). The dotted line is the FID of held-out real "
                         "images: the floor. FID uses the pipeline's own classifier features."},
    schema=_block_schema(["dataset", "model", "grid"], dataset={"type": "string"}, model={"type": "string"},
                         grid=GRID),
    reads=("fid", "sweep"), samples=True, inputs=_feature_net_floor, check=_floor_listed,
    description="sample grid and FID against NFE for the diffusion samplers"))

register(Figure(
    "family_samples", "Families",
    files={"family_samples": "Fig 1.1 analogue: samples of every family, a row of grids per dataset, each titled "
                             "with its FID (the dataset's own feature net). GAN and VAE samples take one network "
                             "pass, a coupling flow one pass per layer, an autoregressive flow or MADE one pass per "
                             "dimension (and layer), the EBM its Langevin steps from noise, diffusion its solver's "
                             "evaluations."},
    schema=_block_schema(["runs", "grid"], grid=GRID, runs=_runs("dataset -> the models whose samples are drawn")),
    reads=("fid",), samples=True, description="Fig 1.1, a sample grid per family and dataset"))


def _snapshots_kept(params: dict[str, Any], block: dict[str, Any]) -> str | None:
    for model in sorted({model for models in block["runs"].values() for model in models}):
        if not params["models"][model]["training"].get("snapshots"):
            return f"models.{model}.training.snapshots must list the steps whose weights the figure draws"
    return None


register(Figure(
    "mode_collapse", "Families",
    files={"mode_collapse": "Fig 1.2: GAN training dynamics. Left: samples of the raw (non-averaged) weights at "
                            "training snapshots. Right: the share of samples per mode along training (digits: "
                            "classes by the feature net; ring: mixture components, within 3 standard deviations), "
                            "and the number of modes covered (at least 20% of a fair share)."},
    schema=_block_schema(["runs"], runs=_runs("dataset -> the GANs drawn on it")),
    reads=("modes",), samples=True, data=True, check=_snapshots_kept,
    description="Fig 1.2, samples and mode coverage along GAN training"))

register(Figure(
    "reconstructions", "Families",
    files={"reconstructions": "Fig 1.3 extended: per dataset, held-out originals against auto-encoder "
                              "reconstructions: the VAE's decoder mean at the encoder mean (the default run has "
                              "the VAE at beta 1 and at ScoreVAE's beta on 8x8 digits, and pytorch/examples' "
                              "Bernoulli VAE on 28x28 digits), and ScoreVAE's conditional reverse-time sample of the "
                              "frozen pretrained diffusion model given the encoder's latent. The table gives MSE, "
                              "PSNR, SSIM, the high-frequency energy of the reconstructions over the originals' (the "
                              "blur), the FID of the reconstructions, their perceptual (feature) distance to the "
                              "originals and the held-out accuracy of a linear probe on the latents (and on the raw "
                              "pixels)."},
    schema=_block_schema(["runs", "grid"], grid=GRID,
                         runs=_runs("dataset -> the auto-encoders whose reconstructions are drawn")),
    reads=("reconstruction",), samples=True, table=True,
    description="Fig 1.3, originals against auto-encoder reconstructions"))

register(Figure(
    "kde_curse", "Analyses",
    files={"kde_curse": "Section 1.1.2: kernel density estimation error of N(0, I_d) against sample size n for "
                        "several d (points: Monte-Carlo mean and standard deviation; lines: exact MISE), and the "
                        "samples needed for a fixed relative error, which grow like eps^{{-(d+4)/4}}."},
    schema=_block_schema(["dims", "sample_sizes", "repeats"], repeats=COUNT, sample_sizes=SIZES,
                         dims={"type": "array", "minItems": 1, "uniqueItems": True, "items": COUNT}),
    inputs=lambda params: {"curves": [paths.analysis("kde_curse", "csv")]},
    description="section 1.1.2, KDE error against sample size in several dimensions"))

register(Figure(
    "intrinsic_dim", "Intrinsic dimension",
    files={"intrinsic_dim_spectra": "Intrinsic dimension of manifolds with known dimension: our estimate from a "
                                    "score model's spectrum (median over held-out points; the share of points "
                                    "estimated exactly) against the scikit-dimension baselines, with their mean "
                                    "absolute errors (labelled data: a row per class too); and the mean "
                                    "normalised score spectra (for a union of spheres, the per-point estimates "
                                    "stacked by the sphere a point lies on)."},
    schema=_block_schema(["runs"], runs=_runs("dataset -> the score models whose spectra are read")),
    reads=("intrinsic_dim",), table=True,
    description="the intrinsic-dimension table (ours against scikit-dimension) and the score spectra"))


def _latent_sizes_per_run(params: dict[str, Any], block: dict[str, Any]) -> str | None:
    # that each run is an experiment listing intrinsic_dim is the registry's check of `reads`
    if set(block["latent_sizes"]) != set(block["runs"]):
        return (f"latent_sizes names {sorted(block['latent_sizes'])}, runs {sorted(block['runs'])}: give latent "
                f"sizes for exactly the datasets in runs")
    return None


register(Figure(
    "autoencoder_dim", "Intrinsic dimension",
    files={"autoencoder_dim": "The intrinsic-dimension paper's auto-encoder check: held-out reconstruction error "
                              "(relative to the data's variance) of MLP auto-encoders against their latent size, "
                              "all trained alike; the size where the error stops falling (the knee: within 1% of the "
                              "variance of the best size's error, circled) beside the true dimension, our "
                              "score-spectrum estimate and the baselines (MLE m = 20, local PCA)."},
    schema=_block_schema(
        ["runs", "latent_sizes", "autoencoder"],
        runs=_runs("dataset -> the score models whose intrinsic-dimension estimate is drawn beside the curve"),
        latent_sizes={"type": "object", "minProperties": 1,
                      "additionalProperties": {**SIZES, "items": COUNT},
                      "description": "dataset -> the auto-encoders' latent sizes, increasing"},
        autoencoder=_block_schema(
            ["width", "depth", "steps", "batch_size", "lr"], width=COUNT, depth=COUNT, steps=COUNT,
            batch_size=COUNT, lr={"type": "number", "exclusiveMinimum": 0})),
    reads=("intrinsic_dim",), table=True,
    inputs=lambda params: {"curves": [paths.autoencoder_curves(d)
                                      for d in params["figures"]["autoencoder_dim"]["runs"]]},
    check=_latent_sizes_per_run,
    description="reconstruction error of auto-encoders against latent size beside the ID estimates (table, figure)"))


def _cdsm_references(params: dict[str, Any], block: dict[str, Any]) -> str | None:
    for dataset in block["datasets"]:
        if params["datasets"].get(dataset, {}).get("kind") != "conditional_mixture":
            return f"datasets: {dataset!r} must be a declared dataset of kind conditional_mixture (its conditional " \
                   f"score is analytic)"
    for model in block["estimators"]:
        model_block = params["models"].get(model, {})
        if model_block.get("family") != "conditional" or model_block["condition"]["kind"] != "given":
            return f"estimators: {model!r} must be a declared model of family conditional with condition {{kind: given}}"
    return None


register(Figure(
    "cdsm_consistency", "CDSM",
    files={"cdsm_consistency": "Consistency of conditional denoising score matching: the weighted L2 error of CDE, "
                               "CDiffE and CMDE to the analytic conditional score of a conditional Gaussian and of "
                               "a Gaussian mixture, against the number of training pairs (top) and against "
                               "diffusion time at the largest n (middle); the closed-form minimiser of the "
                               "empirical CDSM objective against n at fixed times (bottom)."},
    schema=_block_schema(
        ["datasets", "estimators", "sample_sizes", "test_points", "times", "t_min", "bandwidth"],
        datasets={**NAMES, "description": "conditional_mixture datasets"},
        estimators={**NAMES, "description": "model blocks of family conditional, condition given"},
        sample_sizes=SIZES, test_points=COUNT,
        times={"type": "integer", "minimum": 2, "description": "points of the t grid the error is averaged over"},
        t_min={"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        bandwidth={"type": "number", "exclusiveMinimum": 0, "description": "h0 of the empirical minimiser's kernel"}),
    runs_of=lambda params: [],
    inputs=lambda params: {"curves": [paths.cdsm_curves(d) for d in params["figures"]["cdsm_consistency"]["datasets"]]},
    check=_cdsm_references,
    description="error of the conditional estimators to the analytic conditional score against n"))

CONDITIONAL_TASKS = {
    "label": "class-conditional sampling",
    "inpaint": "inpainting of one random square hiding 25% of the image",
    "superres": "super-resolution from the average-pooled image",
    "edges": "edge -> digit translation from the Canny edge map",
}

CONDITIONAL_FAMILIES = ("conditional", "caflow")  # the CDSM estimators (chapter 4) and CAFLOW (chapter 3)


def _task_models(task: str) -> Callable[[dict[str, Any], dict[str, Any]], str | None]:
    def check(params: dict[str, Any], block: dict[str, Any]) -> str | None:
        for models in block["runs"].values():
            for model in models:
                model_block = params["models"].get(model, {})
                if model_block.get("family") not in CONDITIONAL_FAMILIES or model_block["condition"]["kind"] != task:
                    return (f"runs: {model!r} must be a model of family {' or '.join(CONDITIONAL_FAMILIES)} with "
                            f"condition {{kind: {task}}}")
        return None
    return check


for _task, _what in CONDITIONAL_TASKS.items():
    register(Figure(
        f"conditional_{_task}", "CDSM",
        files={f"conditional_{_task}": f"Conditional generation, {_what}, per CDSM estimator (and CAFLOW, where "
                                        f"run) and dataset: held-out images, the condition, and two draws per "
                                        f"condition. The table (one row per dataset and estimator, the paper's "
                                        f"CelebA-HQ / edges2shoes values beside) gives PSNR and SSIM against the "
                                        f"held-out image, consistency of the condition's operator applied to the "
                                        f"sample, diversity over draws, FID and joint FID on the feature net, its "
                                        f"perceptual distance, and a flow's exact conditional NLL."},
        schema=_block_schema(["runs"], runs=_runs("dataset -> the conditional models drawn on it")),
        reads=("conditional",), table=True, check=_task_models(_task),
        notebook_name="conditional_generation",
        description=f"{_what} per CDSM estimator and dataset, beside the paper's values (table, figure)"))

register(Figure(
    "pullback_geodesics", "Pullback geometry",
    files={"pullback_geodesics": "Score-based pullback geometry on the banana densities: geodesics gamma(t) = "
                                 "phi^-1((1-t) phi(x0) + t phi(x1)) of each flow (solid) against the ground-truth "
                                 "geodesics of the known density (dashed), for a plain flow, an anisotropic flow, an "
                                 "isometric flow and the method (anisotropic and isometric). The table gives the "
                                 "geodesic error (mean distance to the truth over pairs and times), the held-out "
                                 "NLL, and the paper's error for the method."},
    schema=_block_schema(["datasets", "models"], datasets={**NAMES, "description": "banana datasets"},
                         models={**NAMES, "description": "pullback flows, each listing metrics geodesic and nll"}),
    reads=("geodesic", "nll"), table=True,
    inputs=lambda params: {"data": [paths.data(d) for d in params["figures"]["pullback_geodesics"]["datasets"]]},
    description="pullback geodesics on banana densities against the ground truth, per flow variant (table, figure)"))

register(Figure(
    "rae", "Pullback geometry",
    files={"rae_spectra": "The Riemannian auto-encoder of an anisotropic, isometry-regularised flow on manifolds of "
                          "known dimension K: the learned base variances (the coordinates kept until the discarded "
                          "variance share is at most epsilon are filled) and the held-out reconstruction error "
                          "against the number of latent coordinates kept; linear PCA under the same rule dashed."},
    schema=_block_schema(["datasets", "models"], datasets=NAMES, models=NAMES),
    reads=("rae",), table=True,
    description="the Riemannian auto-encoder's learned variance spectrum and reconstruction error against PCA (table, figure)"))


def _uniform_then_multiscale(params: dict[str, Any], block: dict[str, Any]) -> str | None:
    families = [params["models"].get(model, {}).get("family") for model in block["models"]]
    if families != ["diffusion", "multiscale"]:
        return f"models: name a model of family diffusion, then one of family multiscale (got families {families})"
    return None  # that both are experiments listing fid and cost is the registry's check of `reads`


register(Figure(
    "multiscale", "Multi-scale diffusion",
    files={"multiscale": "Non-uniform (multi-scale) diffusion against uniform diffusion with the same U-Net design "
                         "and sampler steps. Left: samples of each on {block[dataset]}, titled with FID and "
                         "training seconds (the multi-scale model trained no longer). Right: seconds per 1000 "
                         "samples of the two designs against image resolution (one grey channel, timed on this "
                         "machine) and their ratio, the sampling speed-up."},
    schema=_block_schema(
        ["dataset", "models", "grid", "resolutions", "speed_samples", "speed_repeats"],
        dataset={"type": "string"},
        models={**NAMES, "minItems": 2, "maxItems": 2,
                "description": "a model of family diffusion, then one of family multiscale"},
        grid=GRID, resolutions={**SIZES, "description": "image sides the samplers are timed at (powers of two)"},
        speed_samples={**COUNT, "description": "samples per timed run"},
        speed_repeats={**COUNT, "description": "timed runs per resolution (the median is kept)"}),
    reads=("fid", "cost"), samples=True, table=True,
    inputs=lambda params: {"curves": [paths.analysis("sampling_speed", "csv")]},
    check=_uniform_then_multiscale,
    description="multi-scale against uniform diffusion: samples, FID at equal training time, speed-up against "
                "resolution (table, figure)"))


register(Figure(
    "training_curves", "Training",
    files={"training_curves": "The training loss of every experiment against the step (its train_log.csv; the loss "
                              "is each family's own objective, so scales differ between panels)."},
    schema=_block_schema([], columns={"type": "integer", "minimum": 1, "description": "panels per row"}),
    train_logs=True, runs_of=lambda params: [(e["dataset"], e["model"]) for e in params["experiments"]],
    description="the training loss of every experiment"))
