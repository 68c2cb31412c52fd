"""Interrupts pass from a parent to the child it trains in, and the child gets time to save."""
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from nas.interrupt import HeldInterrupts, Terminated, exit_code, sigterm_as_interrupt, stop_processes, wait_child

# A child that, once interrupted (a second signal must not cut it short), "saves" for a second, then exits.
SAVING_CHILD = """
import sys, time
from nas.interrupt import exit_code, interrupt_once
interrupt_once()
try:
    print("ready", flush=True)
    time.sleep(60)
except KeyboardInterrupt as interrupt:
    time.sleep(1.0)
    open(sys.argv[1], "w").write(type(interrupt).__name__)
    sys.exit(exit_code(interrupt))
"""


def start_saving_child(saved):
    process = subprocess.Popen([sys.executable, "-c", SAVING_CHILD, str(saved)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "ready\n"
    return process


def test_a_stopped_worker_gives_its_child_time_to_save(tmp_path):
    process = start_saving_child(tmp_path / "saved")
    stop = threading.Event()
    outcome = []

    def worker():
        try:
            wait_child(process, stop)
        except KeyboardInterrupt as interrupt:
            outcome.append(interrupt)

    thread = threading.Thread(target=worker)
    thread.start()
    time.sleep(0.3)
    stop.set()
    thread.join(timeout=60)
    assert len(outcome) == 1 and not isinstance(outcome[0], Terminated)
    assert (tmp_path / "saved").read_text() == "Terminated"  # asked with SIGTERM, saved, not killed
    assert process.returncode == 143


def test_the_second_signal_does_not_cut_the_save_short(tmp_path):
    process = start_saving_child(tmp_path / "saved")
    process.send_signal(signal.SIGINT)  # a terminal's Ctrl-C reaches the child ...
    time.sleep(0.2)
    stop_processes([process], signal.SIGTERM, grace_s=30)  # ... and then its parent passes its own on
    assert (tmp_path / "saved").read_text() == "KeyboardInterrupt" and process.returncode == 130


def test_a_child_that_ignores_the_signal_is_killed_after_the_grace(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
                                "signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"], stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout.readline() == "ready\n"
    started = time.monotonic()
    stop_processes([process], grace_s=0.5)
    assert process.returncode == -signal.SIGKILL and time.monotonic() - started < 30


@pytest.mark.parametrize("interrupt, code", [(KeyboardInterrupt(), 130), (Terminated(), 143)])
def test_exit_codes_follow_the_shell_convention(interrupt, code):
    assert exit_code(interrupt) == code


def test_an_interrupt_held_during_a_step_takes_effect_at_the_boundary():
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with HeldInterrupts() as held:
            for step in range(3):
                if step == 1:
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(0.05)  # the handler would run here, mid-step, if the signal were not held
                finished.append(step)  # the step's state is kept ...
                held.deliver()  # ... and only then does the interrupt act
    assert finished == [0, 1]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_a_held_sigterm_reaches_the_handler_it_had_after_the_step():
    finished = []
    with sigterm_as_interrupt():
        with pytest.raises(Terminated):
            with HeldInterrupts() as held:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
                finished.append("step")
                held.deliver()
        raising = signal.getsignal(signal.SIGTERM)
    assert finished == ["step"] and raising.__name__ == "_raise_terminated"


def test_a_signal_after_the_last_step_acts_as_the_loop_ends_and_an_error_drops_it():
    with pytest.raises(KeyboardInterrupt):
        with HeldInterrupts():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
    with pytest.raises(ValueError):  # leaving by an error: the error goes on, the handler is restored
        with HeldInterrupts():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            raise ValueError("diverged")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
