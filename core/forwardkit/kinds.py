"""The kinds of component forwardkit composes (docs/concepts.md, "Kinds of component")."""

from __future__ import annotations

from typing import Literal, get_args

Kind = Literal[
    "token_mixer",
    "channel_mixer",
    "model",
    "learning_rule",
    "callback",
    "adapter",
    "compressor",
    "dataset",
    "analyzer",
    "task",
]

KINDS: tuple[str, ...] = get_args(Kind)

#: The interface class of each kind, as an import path (imported only when checked).
INTERFACES: dict[str, str] = {
    "token_mixer": "forwardkit.interfaces.token_mixer:TokenMixer",
    "channel_mixer": "forwardkit.interfaces.channel_mixer:ChannelMixer",
    "model": "forwardkit.interfaces.model:Model",
    "learning_rule": "forwardkit.interfaces.learning_rule:LearningRule",
    "callback": "forwardkit.interfaces.callback:Callback",
    "adapter": "forwardkit.interfaces.adapter:Adapter",
    "compressor": "forwardkit.interfaces.compressor:Compressor",
    "dataset": "forwardkit.interfaces.dataset:Dataset",
    "analyzer": "forwardkit.interfaces.analyzer:Analyzer",
    "task": "forwardkit.interfaces.task:Task",
}
