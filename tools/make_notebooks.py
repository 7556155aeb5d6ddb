"""Write the notebooks under notebooks/ from the cell sources below (run after editing a cell).

Keeping the source here means the notebooks are reviewed as plain Python and always saved without
outputs; the test suite executes them.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]

COMPOSE_AND_TRAIN = [
    new_markdown_cell(
        "# Compose and train\n\n"
        "Build a model from registry components, train it on real offline data (scikit-learn's 8x8 digits),\n"
        "and plot the curves. Every component is found by name in the registry: the builtin ones and those of\n"
        "every installed plugin."
    ),
    new_code_cell(
        "import torch\n\n"
        "import forwardkit as fk\n\n"
        "registry = fk.get_registry()\n"
        "for info in registry.components('token_mixer'):\n"
        "    print(f'{info.name:<14} {info.plugin:<24} {info.summary}')"
    ),
    new_markdown_cell(
        "A token mixer takes channels-last tokens `(B, *spatial, C)` and returns the same shape; "
        "`create` builds it from its Config fields."
    ),
    new_code_cell(
        "mixer = fk.create('token_mixer', 'attention', dim=32, head_dim=8, causal=True)\n"
        "print(mixer(torch.randn(2, 5, 5, 32)).shape, mixer(torch.randn(2, 17, 32)).shape)\n"
        "print(mixer.config)"
    ),
    new_markdown_cell(
        "Your own mixer, written here, joins the registry for this session and composes like any other."
    ),
    new_code_cell(
        "from forwardkit.config import TokenMixerConfig\n\n\n"
        "class MeanShiftConfig(TokenMixerConfig):\n"
        "    alpha: float = 0.5\n\n\n"
        "class MeanShift(fk.TokenMixer):\n"
        '    """y_i = alpha * (mean_j x_j - x_i): every token moves toward the mean token."""\n\n'
        "    Config = MeanShiftConfig\n\n"
        "    def forward(self, x):\n"
        "        flat = x.flatten(1, -2)\n"
        "        return (self.config.alpha * (flat.mean(1, keepdim=True) - flat)).reshape(x.shape)\n\n\n"
        "if ('token_mixer', 'mean_shift') not in registry:\n"
        "    registry.register_class('token_mixer', 'mean_shift', MeanShift, summary='notebook mixer')\n"
        "model = fk.build_model({'name': 'metaformer', 'in_channels': 1, 'stem_stride': 1,\n"
        "                        'token_mixers': ['mean_shift', 'mean_shift', {'name': 'attention', 'head_dim': 16},\n"
        "                                         {'name': 'attention', 'head_dim': 16}]})\n"
        "print(sum(p.numel() for p in model.parameters()), 'parameters')\n"
        "print(model(torch.randn(4, 8, 8, 1)).shape)"
    ),
    new_markdown_cell(
        "Train it: an experiment names the data, the model, the learning rule and callbacks. The trainer fills\n"
        "`in_channels` and `num_classes` from the dataset's metadata."
    ),
    new_code_cell(
        "from forwardkit.engine import Trainer\n\n"
        "experiment = {\n"
        "    'name': 'notebook',\n"
        "    'data': 'digits',\n"
        "    'model': {'name': 'metaformer', 'stem_stride': 1,\n"
        "              'token_mixers': ['mean_shift', 'mean_shift', {'name': 'attention', 'head_dim': 16},\n"
        "                               {'name': 'attention', 'head_dim': 16}]},\n"
        "    'learning_rule': {'name': 'backprop', 'lr': 3e-3, 'weight_decay': 0.05, 'schedule': 'cosine',\n"
        "                      'warmup_epochs': 1},\n"
        "    'callbacks': ['nan_guard'],\n"
        "    'trainer': {'epochs': 6, 'batch_size': 64, 'progress': 'log', 'log_every': 20},\n"
        "}\n"
        "trainer = Trainer(experiment, write=False)\n"
        "result = trainer.fit()\n"
        "print({k: round(v, 4) for k, v in result.final.items()})"
    ),
    new_code_cell(
        "import matplotlib.pyplot as plt\n\n"
        "records = trainer.metrics.records\n"
        "train = [r for r in records if 'train/loss' in r]\n"
        "val = [r for r in records if 'val/accuracy' in r]\n"
        "fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3))\n"
        "a.plot([r['step'] for r in train], [r['train/loss'] for r in train])\n"
        "a.set(xlabel='step', ylabel='train loss')\n"
        "b.plot([r['step'] for r in val], [r['val/accuracy'] for r in val], marker='o')\n"
        "b.set(xlabel='step', ylabel='val accuracy')\n"
        "fig.tight_layout()"
    ),
    new_code_cell(
        "assert result.final['test/accuracy'] > 0.8, result.final  # the notebook fails loudly if training broke"
    ),
]


def main() -> None:
    nb = new_notebook(cells=COMPOSE_AND_TRAIN)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = ROOT / "notebooks" / "01-compose-and-train.ipynb"
    nbformat.write(nb, path)
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
