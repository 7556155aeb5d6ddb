"""Miniature reproduction of TSM2's ablation (paper Table 7, "Significance of Dual Selection"): does selective
(S6) variate mixing beat an MLP variate mixer and a linear time model?

Setup A (judged): the card's synthetic ``lagged_mixtures`` (M = 8: two AR(2) + sinusoid drivers, four lagged
noisy mixtures of them, two noise variates; 3000 steps, lookback 96, horizon 24, chronological 70/10/20,
z-scored on train). TSM2 (d_model 32, 2 layers, patches 16/8) against TSM2-MLP (the paper's: MLP variate mixer,
no weighted averaging), and, reported, TSM2 without weighted averaging, channel-independent TSM2 and RLinear.
8 epochs, Adam 1e-3, batch 32, seeds 0-2. Setup B (report only): statsmodels macrodata, 12 series, first
differences, lookback 16, horizon 4. The card's pass bar is transcribed into ``conditions`` (torch-free).
"""

from __future__ import annotations

from typing import Any

from forwardkit.reproduce.spec import ReproductionSpec

#: TSM2 at the card's miniature size (the paper grid-searches and reports no sizes)
TSM2: dict[str, Any] = {"name": "tsm2", "d_model": 32, "num_layers": 2, "patch_len": 16, "stride": 8,
                        "d_state": 16, "dropout": 0.1}
#: the judged and reported models of Setup A, each differing from `tsm2` in the named thing
MODELS: dict[str, dict[str, Any]] = {
    "tsm2": dict(TSM2),
    "tsm2_mlp": {**TSM2, "variate_mixer": "mlp", "weighted_avg": False},  # paper: "MLP without weighted averaging"
    "tsm2_no_wavg": {**TSM2, "weighted_avg": False},
    "tsm2_ci": {**TSM2, "variate_mixer": "none"},
    "rlinear": {"name": "revin_linear"},
}
#: the card's Setup A
SETUP_A: dict[str, Any] = {"name": "lagged_mixtures", "length": 3000, "num_mixtures": 4, "num_noise": 2,
                           "lookback": 96, "horizon": 24, "val_fraction": 0.1, "test_fraction": 0.2, "seed": 0,
                           "stride": 3}
#: Setup B: macrodata, 12 quarterly series 1959Q1-2009Q3, first differences, chronological 65/15/20
SETUP_B: dict[str, Any] = {"name": "timeseries", "series": "macrodata", "transform": "diff", "lookback": 16,
                           "horizon": 4, "val_fraction": 0.15, "test_fraction": 0.2}
#: TSM2 on 16-step windows: patches of 4 every 2 steps (7 patches)
MACRO_PATCHES: dict[str, Any] = {"patch_len": 4, "stride": 2}
EPOCHS = 8
MACRO_EPOCHS = 20

BASE: dict[str, Any] = {
    "name": "mambamixer-reproduction",
    "learning_rule": {"name": "backprop", "optimizer": "adam", "lr": 1e-3},
    "trainer": {"epochs": EPOCHS, "batch_size": 32, "eval_every": 0, "checkpoint_every": 0},
}

#: --smoke: two small steps per run; Setup A arms also on a short series (every arm's own "smoke" entry)
SMOKE: dict[str, Any] = {"trainer": {"max_steps": 2, "epochs": 1, "batch_size": 8, "eval_batch_size": 256}}
SMOKE_SETUP_A: dict[str, Any] = {"data": {"length": 480, "lookback": 32, "horizon": 8, "stride": 2}}


def _arm(model: str, *, macro: bool = False) -> dict[str, Any]:
    spec = dict(MODELS[model])  # every arm names its data and model whole (deep-merging would mix two of them)
    arm: dict[str, Any] = {"data": dict(SETUP_A), "model": spec}
    if model == "tsm2":
        arm["analyzers"] = ["mixing_weights"]
    if macro:
        if spec["name"] == "tsm2":
            spec.update(MACRO_PATCHES)
        arm.update({"data": dict(SETUP_B), "trainer": {"epochs": MACRO_EPOCHS}})
    else:
        arm["smoke"] = dict(SMOKE_SETUP_A)
    return arm


ARMS: dict[str, dict[str, Any]] = {name: _arm(name) for name in MODELS}
ARMS.update({f"macro_{name}": _arm(name, macro=True) for name in ("tsm2", "tsm2_mlp", "rlinear")})

PASS_BAR = (
    "Prediction: TSM2 ≤ TSM2-MLP ≤ channel-independent on Setup A, gap ≈3–15% as in the ablation table. Pass bar: "  # noqa: RUF001
    "TSM2 better than TSM2-MLP in mean by more than one pooled std. \"Does not reproduce\": TSM2-MLP or RLinear "
    "is as good or better."
)

SPEC = ReproductionSpec(
    paper="MambaMixer: Efficient Selective State Space Models with Dual Token and Channel Selection",
    arxiv="2403.19888",
    claim=("Selective (S6) variate/channel mixing beats an MLP channel mixer and a linear time model: TSM2 "
           "forecasts with lower MSE than TSM2-MLP and than linear baselines."),
    paper_result=("Ablation table (H=96, MSE): ETTh1 TSM2 0.375 vs TSM2-MLP 0.386 vs Mamba + Linear time 0.388; "
                  "Exchange 0.163 vs 0.197 vs 0.220 (v1, results marked preliminary)."),
    pass_bar=PASS_BAR,
    deviations=[
        "Synthetic Setup A instead of ETTh1/Exchange (the card's miniature); horizon 24, lookback 96, TSM2 at the "
        "card's size (d_model 32, 2 layers, patches 16/8, state 16) for every TSM2 arm.",
        "TSM2-MLP is the paper's ablation, 'the selective channel mixer replaced with an MLP, without weighted "
        "averaging' (an MLP of width 2M across the M variates); `tsm2_no_wavg` (S6 variate mixer, no weighted "
        "averaging) separates the two changes and is reported.",
        "'RLinear is as good or better' is judged literally on the seed means: a std_rule with k=1e-6 pooled std "
        "(the core's std_rule needs k > 0), i.e. TSM2's mean MSE must be below RLinear's.",
        "The card's Mamba + Linear-time baseline is not run; RLinear stands for the linear time model, as the "
        "card's 'does not reproduce' rule names it.",
        "Budget: Setup A windows start every 3rd step (the card names no stride; stride 1 would take ~12 min on "
        "2 cores, the pure-PyTorch S6 scan being memory-bound on the CPU), for every arm alike: 8 epochs of 21 "
        "steps; Setup B runs 20 epochs.",
        "No best-validation checkpoint: every arm is tested with its weights after the fixed budget; constant "
        "learning rate. Same data (series seed 0) for every arm and seed; seeds vary initialisation, batch order "
        "and dropout.",
        "Setup B (report only) uses first differences of all 12 macrodata columns (log-differences fail on the "
        "rates, which are <= 0) and TSM2 patches of 4 steps every 2 (a 16-step lookback has no room for 16/8).",
    ],
    base=BASE,
    arms=ARMS,
    conditions=[
        {"kind": "std_rule", "method": "tsm2", "baseline": "tsm2_mlp", "test": "beats", "k": 1.0, "std": "pooled",
         "label": "TSM2 better than TSM2-MLP in mean by more than one pooled std (\"Does not reproduce\": "
                  "TSM2-MLP is as good or better)"},
        {"kind": "std_rule", "method": "tsm2", "baseline": "rlinear", "test": "beats", "k": 1e-6, "std": "pooled",
         "label": "\"Does not reproduce\": RLinear is as good or better (TSM2's mean MSE must be below RLinear's)"},
    ],
    headline=0,
    metric="test/mse",
    direction="lower",
    paired=False,
    seeds=[0, 1, 2],
    smoke=SMOKE,
    expected_minutes=5.0,
)
