"""Ctrl+C during a command whose data loader has forked workers is the command's to act on, said once."""


def test_ctrl_c_reaching_a_forked_data_loader_worker_is_left_to_the_command(capfd):
    """Ctrl+C reaches the data-loader workers too: each forked worker ran the command's handler and printed
    "cancelling on Ctrl+C" again."""
    import os
    import signal

    from dvos_core.cli._common import cancel_on_sigint

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        token = cancel_on_sigint()
        pid = os.fork()
        if pid == 0:  # a worker: the signal is the command's to act on
            signal.raise_signal(signal.SIGINT)
            os._exit(3 if token.cancelled else 0)
        assert os.waitpid(pid, 0)[1] == 0 and not token.cancelled
        assert "cancelling" not in capfd.readouterr().err
    finally:
        for s, h in before.items():
            signal.signal(s, h)
