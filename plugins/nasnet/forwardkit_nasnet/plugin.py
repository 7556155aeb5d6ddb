"""Registration of the nasnet components (import paths only, no torch)."""

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper

PAPER = Paper(title="Learning Transferable Architectures for Scalable Image Recognition", arxiv="1707.07012",
              url="https://arxiv.org/abs/1707.07012", year=2018)
_P = "forwardkit_nasnet"
_C = f"{_P}.config"


@hookimpl
def forwardkit_register(registry):
    add = registry.add
    add("model", "nasnet_network", target=f"{_P}.network:NasNetNetwork", config=f"{_C}:NasNetConfig", paper=PAPER,
        summary="NASNet: stem, N Normal cells per stack with Reduction cells between (filters x2), from the "
                "NASNet-A genotype, a seeded random one or an explicit one; presets cifar_6_768, mobile_4_1056, "
                "large_6_4032; optional auxiliary head")
    add("model", "nasnet_cell", target=f"{_P}.cell:NasNetCellModel", config=f"{_C}:NasNetCellConfig", paper=PAPER,
        summary="one NASNet cell from its genotype [(in_a, op_a, in_b, op_b, combine) x 5] + output rule, on "
                "{x: h_i, prev: h_{i-1}} (NASNet-A Normal 6F / Reduction 4F, random or explicit cells)")
    add("callback", "scheduled_drop_path", target=f"{_P}.callback:ScheduledDropPath",
        config=f"{_C}:ScheduledDropPathConfig", paper=PAPER, functional=f"{_P}.droppath:scheduled_keep_prob",
        summary="ScheduledDropPath: per-example path dropping in every NASNet cell with a keep probability "
                "falling linearly over training (and with depth, 'v3'); resumes exactly")
    add("adapter", "nasnet_aux_loss", target=f"{_P}.aux_loss:NasNetAuxLoss", config=f"{_C}:NasNetAuxLossConfig",
        paper=PAPER, functional=f"{_P}.aux_loss:aux_loss",
        summary="adds aux_weight * CE(aux logits) of a nasnet_network's auxiliary head to the training loss")
    add("analyzer", "cell_search", target=f"{_P}.search:CellSearch", config=f"{_C}:CellSearchConfig", paper=PAPER,
        functional=f"{_P}.search:random_search",
        summary="random search over the NASNet search space: seeded random cell pairs trained briefly on a "
                "proxy, ranked by proxy accuracy (with the analysed model's own cells), params and MACs each")
    registry.add_reproduction(spec=f"{_P}.reproduction:SPEC")
