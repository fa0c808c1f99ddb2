"""Bench only: cProfile of a prefork pool child on its own thread's CPU clock, written to
$WORKER_PROFILE_DIR/<pid>.prof when the child exits. Loaded only by bench/profile_worker.py (`celery worker -I`)."""

import cProfile
import os
import time

from celery import signals

_profile = None


@signals.worker_process_init.connect(weak=False)
def _start(**kwargs):
    global _profile
    _profile = cProfile.Profile(time.thread_time)
    _profile.enable()


@signals.worker_process_shutdown.connect(weak=False)
def _stop(**kwargs):
    if _profile is not None:
        _profile.disable()
        _profile.dump_stats(os.path.join(os.environ["WORKER_PROFILE_DIR"], f"{os.getpid()}.prof"))
