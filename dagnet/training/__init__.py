"""Training: the one loop (``Trainer``), its extensions, data iterators, checkpoints and
the run record.  See ``dagnet.training.trainer`` for how they fit together."""

from dagnet.training.checkpoint import (
    Checkpoint,
    check_options,
    optimizer_from_checkpoint,
    resume,
    save_checkpoint,
    training_state,
)
from dagnet.training.extensions import (
    EpochDecay,
    Evaluate,
    Interrupt,
    MetricsLog,
    ProgressBar,
    Report,
    StopOnNonFinite,
    TensorBoard,
    TimeBudget,
    format_entry,
    jsonable,
)
from dagnet.training.iterators import (
    ArrayBatches,
    AugmentedBatches,
    Batch,
    GeneratedBatches,
    StreamBatches,
)
from dagnet.training.profile import Profile, StepProfile
from dagnet.training.record import LOG_FILE, RECORD_FILE, RunRecord, check_record, environment
from dagnet.training.run import Run
from dagnet.training.trainer import Extension, History, StopTraining, Trainer, parse_trigger

__all__ = [
    "ArrayBatches", "AugmentedBatches", "Batch", "Checkpoint", "EpochDecay", "Evaluate",
    "Extension", "GeneratedBatches", "History", "Interrupt", "LOG_FILE", "MetricsLog",
    "Profile", "ProgressBar", "RECORD_FILE", "Report", "Run", "RunRecord", "StepProfile",
    "StopOnNonFinite", "StopTraining", "StreamBatches", "TensorBoard", "TimeBudget", "Trainer",
    "check_options", "check_record", "environment", "format_entry", "jsonable",
    "optimizer_from_checkpoint", "parse_trigger", "resume", "save_checkpoint", "training_state",
]
