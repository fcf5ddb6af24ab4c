"""A training run that kills itself (os._exit, like SIGKILL) at the N-th write step.

Usage: python kill_during_writes.py N RUN_DIR DATA. N = 0 never kills and prints the
number of write steps the run took. Used by tests/test_crash_safety.py.
"""

import os
import sys

from nntune import TrainConfig, _files
from nntune.experiment.rundir import run_training

steps = 0


def hook(name: str) -> None:
    global steps
    steps += 1
    if steps == kill_at:
        os._exit(137)


def main(data: str, run_dir: str) -> None:
    _files._STEP_HOOK = hook
    config = TrainConfig(
        data=data,
        layers=(4,),
        keep_prob=0.9,
        epochs=2,
        checkpoint_every=1,
        out=run_dir,
    )
    run_training(config, progress="silent")
    print(steps)


if __name__ == "__main__":
    kill_at = int(sys.argv[1])
    main(sys.argv[3], sys.argv[2])
