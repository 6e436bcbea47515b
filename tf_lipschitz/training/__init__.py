"""The training runtime: a resumable run loop, its checkpoints, and running it on several workers.

- `run`: `train_run` (checkpoints, a log by step, progress, a clean stop on divergence), `read_log`,
  `load_final_weights`, `TrainingDiverged`, `TrainingInterrupted`, `ApplyLearningRate`, `StepProgress`.
- `checkpoints`: atomic, verified checkpoints of a run directory (`RunCheckpoints`, `CheckpointCallback`).
- `distribute`: the `tf.distribute` strategy of a run, who writes the run directory, data sharding, local clusters.

The run loop's names are re-exported here (`tf_lipschitz.training.train_run`).
"""

from tf_lipschitz.training.run import (
    PROGRESS_KEYS,
    ApplyLearningRate,
    StepLog,
    StepProgress,
    TrainingDiverged,
    TrainingInterrupted,
    format_duration,
    load_final_weights,
    read_log,
    train_run,
)

__all__ = [
    "PROGRESS_KEYS",
    "ApplyLearningRate",
    "StepLog",
    "StepProgress",
    "TrainingDiverged",
    "TrainingInterrupted",
    "format_duration",
    "load_final_weights",
    "read_log",
    "train_run",
]
