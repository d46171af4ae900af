"""From one machine to many: the Ray executor and data-parallel training (CPU, small)."""
import pytest
import torch

from spadelib.experiments import ResultStore, cells, run_grid


@pytest.fixture
def smoke_preset(tiny_preset):
    """The DEQ at a size where a smoke-grid cell takes seconds."""
    return tiny_preset.replace(deq_blocks=1, deq_features=4, deq_max_iter=4, deq_warmup=0.0,
                               deq_epochs=1, finetune_epochs=1, train_batch=2)


def _psnr_by_key(store):
    return {r["key"]: (r["status"], r.get("psnr"), r.get("ssim"), r.get("params"))
            for r in store.rows()}


def test_ray_executor_stores_the_rows_of_the_local_executor(smoke_preset, tmp_path,
                                                            monkeypatch):
    pytest.importorskip("ray")
    torch.set_num_threads(1)          # Ray's workers run one thread each: compare like for like
    assert len(cells("smoke", smoke_preset)) == 4
    monkeypatch.setenv("SPADE_DATA_DIR", str(tmp_path / "local"))
    local = ResultStore(tmp_path / "local.spade")
    run_grid("smoke", smoke_preset, store=local, device="cpu", progress=False)
    monkeypatch.setenv("SPADE_DATA_DIR", str(tmp_path / "ray"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    remote = ResultStore(tmp_path / "ray.spade")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        run_grid("smoke", smoke_preset, executor="ray", store=remote, progress=False)
    finally:
        ray.shutdown()
    got, want = _psnr_by_key(remote), _psnr_by_key(local)
    assert set(got) == set(want) and len(want) == 4
    assert all(status == "ok" for status, *_ in want.values())
    assert got == want                # the same PSNR, SSIM and size, to the last bit


def test_ray_executor_fails_the_cells_of_a_network_it_cannot_train(smoke_preset, tmp_path,
                                                                   monkeypatch):
    """A network whose pre-training fails (here: a learning rate FitConfig refuses) fails
    the cells that need it, each with its error; the grid does not stop."""
    pytest.importorskip("ray")
    import ray

    monkeypatch.setenv("SPADE_DATA_DIR", str(tmp_path / "ray"))
    store = ResultStore(tmp_path / "ray.spade")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        rows = run_grid("smoke", smoke_preset.replace(train_lr=-1.0), executor="ray",
                        store=store, progress=False)
    finally:
        ray.shutdown()
    assert len(rows) == 4 and {r["status"] for r in store.rows()} == {"failed"}
    assert all(r["error"].startswith("ValueError") and "lr" in r["error"] for r in rows)


@pytest.mark.timeout(600)   # two processes that never meet fail here, not at CI's limit
def test_two_process_ddp_matches_one_process_with_the_same_global_batch(tiny_preset,
                                                                        data_dir):
    from spadelib.distributed import fit_data_parallel
    from spadelib.models import build
    from spadelib.tasks import task_of
    from spadelib.training import FitConfig

    P = tiny_preset.replace(varnet_cascades=1, varnet_chans=4, varnet_pools=1)
    train, _ = task_of("varnet").training_data(P, progress=False)
    assert len(train) == 4
    config = FitConfig(epochs=2, batch_size=2, lr=1e-3, seed=3, schedule="cosine")
    nets = []
    for devices in (1, 2):
        torch.manual_seed(0)
        net = build("varnet", P)
        fit_data_parallel(net, train, config, devices=devices, accelerator="cpu")
        nets.append(net.state_dict())
    torch.manual_seed(0)
    start = build("varnet", P).state_dict()
    moved = max(float((nets[0][k] - start[k]).abs().max()) for k in start)
    assert moved > 1e-4               # training did change the weights
    # gradients averaged over 2 processes of 1 sample = the mean over 2 samples, up to the
    # order of floating-point sums: 4 Adam steps keep the weights within 1e-5
    for k in start:
        torch.testing.assert_close(nets[1][k], nets[0][k], atol=1e-5, rtol=1e-4)


def test_data_parallel_refuses_a_batch_it_cannot_split(tiny_preset):
    from spadelib.distributed import fit_data_parallel
    from spadelib.models import build
    from spadelib.training import FitConfig

    with pytest.raises(ValueError, match="multiple of the number of devices"):
        fit_data_parallel(build("varnet", tiny_preset), None, FitConfig(epochs=1, batch_size=3),
                          devices=2, accelerator="cpu")
