"""The typed interfaces every component implements, one module per kind (imports torch)."""

from forwardkit.interfaces.adapter import Adapter
from forwardkit.interfaces.analyzer import Analysis, Analyzer
from forwardkit.interfaces.base import Component
from forwardkit.interfaces.callback import Callback
from forwardkit.interfaces.channel_mixer import ChannelMixer
from forwardkit.interfaces.compressor import CompressionReport, Compressor, ModelFigures
from forwardkit.interfaces.context import RunContext
from forwardkit.interfaces.dataset import SPLITS, Dataset, DatasetMetadata
from forwardkit.interfaces.learning_rule import LearningRule, finish_step
from forwardkit.interfaces.model import Model
from forwardkit.interfaces.task import Task
from forwardkit.interfaces.token_mixer import TokenMixer

__all__ = [
    "SPLITS",
    "Adapter",
    "Analysis",
    "Analyzer",
    "Callback",
    "ChannelMixer",
    "Component",
    "CompressionReport",
    "Compressor",
    "Dataset",
    "DatasetMetadata",
    "LearningRule",
    "Model",
    "ModelFigures",
    "RunContext",
    "Task",
    "TokenMixer",
    "finish_step",
]
