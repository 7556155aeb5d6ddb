"""Registration of the raftmlp components (no torch here: import paths only)."""

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper

PAPER = Paper(title="RaftMLP: How Much Can Be Done Without Attention and with Less Spatial Locality?",
              arxiv="2108.04384", year=2021)
MIXER_PAPER = Paper(title="MLP-Mixer: An all-MLP Architecture for Vision", arxiv="2105.01601", year=2021)


@hookimpl
def forwardkit_register(registry):
    registry.add("token_mixer", "raft_mixing", target="forwardkit_raftmlp.raft:RaftMixing",
                 config="forwardkit_raftmlp.config:RaftMixingConfig",
                 summary="RaftMLP token mixing: vertical then horizontal MLP over strided channel rafts",
                 paper=PAPER, functional="forwardkit_raftmlp.raft:raft_axis_mlp")
    registry.add("token_mixer", "mixer_token_mlp", target="forwardkit_raftmlp.mixer_mlp:MixerTokenMLP",
                 config="forwardkit_raftmlp.config:MixerTokenMLPConfig",
                 summary="MLP-Mixer token MLP over all N tokens of each channel (RaftMLP's baseline)",
                 paper=MIXER_PAPER, functional="forwardkit_raftmlp.mixer_mlp:token_mlp")
    registry.add("model", "raftmlp", target="forwardkit_raftmlp.model:RaftMLP",
                 config="forwardkit_raftmlp.config:RaftMLPConfig",
                 summary="RaftMLP classifier (hierarchical S/M/L, isotropic 12-layer, Mixer ablation, tiny)",
                 paper=PAPER)
    registry.add("adapter", "bicubic_grid_adapter", target="forwardkit_raftmlp.adapter:BicubicGridAdapter",
                 config="forwardkit_raftmlp.config:BicubicGridAdapterConfig",
                 summary="runs fixed-grid token MLPs at a new resolution by bicubic resize in and out",
                 paper=PAPER)
    registry.add("analyzer", "padded_resolution", target="forwardkit_raftmlp.analyzer:PaddedResolution",
                 config="forwardkit_raftmlp.config:PaddedResolutionConfig",
                 summary="accuracy of a trained model on its images padded to a larger canvas (bicubic grid adapter)",
                 paper=PAPER)
    registry.add_reproduction(spec="forwardkit_raftmlp.reproduction:SPEC")
