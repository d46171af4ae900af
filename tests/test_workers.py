"""spadelib.workers: worker processes that do not inherit the caller's held locks."""
import threading

from spadelib.workers import pool_size, process_pool

LOCK = threading.Lock()


def _lock_is_free(_=None) -> bool:
    got = LOCK.acquire(timeout=1)
    if got:
        LOCK.release()
    return got


def test_workers_do_not_inherit_a_lock_another_thread_holds():
    """A forked child would inherit LOCK held (by the thread below) and wait on it forever: the
    way CI once hung building data after the Ray tests. The fork server's workers start from
    a clean process, so the lock is free there."""
    held, done = threading.Event(), threading.Event()

    def hold():
        with LOCK:
            held.set()
            done.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    try:
        held.wait(5)
        with process_pool(2) as pool:
            assert list(pool.map(_lock_is_free, range(2))) == [True, True]
    finally:
        done.set()
        t.join()


def test_pool_size():
    assert pool_size(4, 2) == 2 and pool_size(1, 10) == 1 and pool_size(3, 0) == 1
