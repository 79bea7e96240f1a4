"""Train and compare a self-attention and a multi-head attention text classifier."""

import sys

from pipeline import interrupts

if interrupts.running_as_a_step(sys.orig_argv):  # before the step's imports: they take seconds
    interrupts.exit_at_once_while_starting()
