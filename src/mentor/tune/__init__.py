"""Fine-tuning: configs, methods and the shared training loop."""

from mentor.tune.config import TrainConfig, load_config
from mentor.tune.train import TrainResult, evaluate, resume, train

__all__ = ["TrainConfig", "TrainResult", "evaluate", "load_config", "resume", "train"]
