"""The experiment: trainer settings, the whole composed run, and the entry points that validate it.

Torch-free. YAML, JSON, dicts and keyword arguments all go through :func:`validate_experiment`, so they
validate the same way, and every problem is reported at once with its full field path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from forwardkit.config.base import ComponentConfig
from forwardkit.config.files import read_mapping
from forwardkit.config.issues import issues_from_validation
from forwardkit.config.spec import (
    AdapterSpec,
    AnalyzerSpec,
    CallbackSpec,
    CompressorSpec,
    DatasetSpec,
    LearningRuleSpec,
    ModelSpec,
    TaskSpec,
    spec_schemas_by_reference,
)
from forwardkit.errors import ConfigError
from forwardkit.registry import Registry


class PairedSplitConfig(ComponentConfig):
    """A second split whose rows join every training batch (``trainer.paired``).

    Domain adaptation draws unlabelled target rows beside each labelled source batch (DANN); semi-supervised
    methods draw unlabelled rows beside the labelled ones. The rows of step ``t`` are rows ``t*b .. t*b+b-1``
    of an endless stream of seeded permutations of the split (``b`` = ``batch_size``), independent of the
    training split's order and a function of (seed, step) only, so a resumed run draws the same rows.
    """

    split: str = Field(description="the dataset split to draw from (e.g. 'target_train')")
    prefix: str = Field("target_", min_length=1,
                        description="its keys join the batch as <prefix><key> (x -> target_x)")
    keys: list[str] | None = Field(None, min_length=1,
                                   description="the item keys to take (None: all; ['x'] leaves its labels out)")
    batch_size: int | None = Field(None, ge=1, description="rows per step (None: trainer.batch_size)")
    shuffle: bool = Field(True, description="False: the split's own order, cycled")


class TrainerConfig(ComponentConfig):
    """How the trainer runs the loop (the learning rule owns the update)."""

    epochs: int = Field(1, ge=0, description="passes over the training split")
    max_steps: int | None = Field(None, ge=1, description="stop after this many steps (optimizer updates)")
    batch_size: int = Field(64, ge=1, description="global batch size (split across processes)")
    eval_batch_size: int | None = Field(None, ge=1, description="defaults to batch_size")
    eval_every: int = Field(1, ge=0, description="evaluate on 'val' every N epochs (0: only at the end)")
    test_at_end: bool = Field(True, description="evaluate on 'test' when training ends")
    eval_train_at_end: bool = Field(False, description="also evaluate the whole 'train' split (eval mode, as val "
                                    "and test) when training ends: final train_eval/<metric>, e.g. for a "
                                    "train-test gap")
    shuffle: bool = True
    drop_last: bool = Field(False, description="drop the last incomplete batch of each epoch")
    device: str = Field("cpu", pattern=r"^(cpu|auto|mps|cuda(:\d+)?)$",
                        description="'cpu', 'cuda', 'cuda:1', 'mps', or 'auto' (CUDA when available)")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes")
    log_every: int = Field(10, ge=1, description="steps between logged training metrics")
    checkpoint_every: int = Field(1, ge=0, description="checkpoint every N epochs (0: only at the end)")
    checkpoint_every_steps: int = Field(0, ge=0, description="also checkpoint every N steps (0: off)")
    keep_checkpoints: int = Field(2, ge=1, description="how many recent checkpoints to keep")
    out_dir: str = Field("runs", description="parent folder of run directories")
    task: TaskSpec | None = Field(None, description="override the task chosen from the dataset metadata: "
                                  "a task name or {name: ..., **config}")
    progress: Literal["auto", "bar", "log", "none"] = Field("auto", description="auto: a bar on a terminal")
    tensorboard: bool = Field(False, description="also write TensorBoard event files")
    plots: bool = Field(True, description="write curves.png at the end")
    compile: bool = Field(False, description="run the model's forward (training and evaluation) through "
                          "torch.compile; checkpoints keep the model's own state_dict keys")
    paired: PairedSplitConfig | None = Field(
        None, description="draw rows of a second split (an unlabelled target domain) into every training batch, "
        "their keys prefixed (docs/training.md, 'Paired splits')")


class TestTimeConfig(ComponentConfig):
    """Learning at test time: a rule that adapts on unlabelled evaluation batches, episode by episode."""

    rule: LearningRuleSpec = Field(description="a learning rule with adapts_at_test_time (e.g. tent)")
    splits: list[str] = Field(default_factory=lambda: ["test"], min_length=1,
                              description="the splits streamed through the rule; metrics as tta/<split>/<name>")
    mode: Literal["online", "transductive"] = Field(
        "online", description="online: each batch is scored right after the rule adapted on it; transductive: "
        "the rule adapts on the whole episode first, then every batch of it is scored")
    episode_batches: int = Field(0, ge=0, description="batches per episode (0: the whole split is one episode)")
    reset: bool = Field(True, description="restore the trained model and a fresh rule at every episode start")
    batch_size: int | None = Field(None, ge=1, description="defaults to the trainer's eval batch size")
    stream_seed: int | None = Field(None, ge=0, description="None: the split's own order; a seed: a fixed "
                                    "permutation of it")


class Experiment(ComponentConfig):
    """One experiment: data, model, surgery, learning rule, callbacks, compression, analysis, trainer, seed."""

    name: str = "experiment"
    data: DatasetSpec
    model: ModelSpec
    adapters: list[AdapterSpec] = Field(default_factory=list)
    learning_rule: LearningRuleSpec | None = Field(None, description="None means 'backprop'")
    callbacks: list[CallbackSpec] = Field(default_factory=list)
    compressors: list[CompressorSpec] = Field(default_factory=list)
    analyzers: list[AnalyzerSpec] = Field(
        default_factory=list,
        description="analyzers run on the final model; their numbers join the final metrics as analysis/<name>/<key>")
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    test_time: TestTimeConfig | None = Field(None, description="adapt a learning rule on the evaluation stream "
                                             "after training (test-time adaptation, transductive inference)")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seeds Python, NumPy and torch (NumPy takes 32 bits)")

    def to_dict(self, *, full: bool = False) -> dict[str, Any]:
        """The experiment as plain data: the fields that were given (validating it gives the same
        experiment, with fields that come from the data still free to), or with ``full`` every value."""
        return self.model_dump(mode="json", exclude_unset=not full)


def validate_experiment(
    data: Any = None, /, *, source: str | None = None, registry: Registry | None = None, **overrides: Any
) -> Experiment:
    """An :class:`Experiment` from a mapping, an Experiment, or keyword arguments; raises ConfigError."""
    if isinstance(data, Experiment) and not overrides:
        return data
    if isinstance(data, Experiment):
        data = data.to_dict()
    merged = {**(dict(data) if data is not None else {}), **overrides}
    try:
        return Experiment.model_validate(merged, context={"registry": registry} if registry else None)
    except ValidationError as err:
        raise ConfigError(issues_from_validation(err), source=source) from None


def load_experiment(path: str | Path, *, registry: Registry | None = None) -> Experiment:
    """Read and validate an experiment from a ``.yaml``/``.yml`` or ``.json`` file."""
    path = Path(path)
    data = read_mapping(path)
    return validate_experiment(data, source=str(path), registry=registry)


def experiment_json_schema() -> dict[str, Any]:
    """JSON Schema of :class:`Experiment`: each kind's specs defined once in ``$defs`` (``model_spec``, ...),
    with the config of every installed component (:func:`~forwardkit.config.spec.spec_schemas_by_reference`)."""
    schema = spec_schemas_by_reference(Experiment)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
