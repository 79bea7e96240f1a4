"""Train and compare a self-attention and a multi-head attention text classifier."""

import os
import sys

from pipeline import interrupts

# Every stage and command starts here, however it was launched (make, an activated venv, DVC's queue, decide):
# no usage reporting from MLflow unless the user asked for it.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

if interrupts.running_as_a_step(sys.orig_argv):  # before the step's imports: they take seconds
    interrupts.exit_at_once_while_starting()
