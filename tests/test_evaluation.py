"""evaluate and reconstruct: the metrics of a network on a split, and their refusals."""
import pytest
import torch

from spadelib.data import mri_dataset
from spadelib.data.common import SampleSet
from spadelib.evaluation import Evaluation, evaluate, reconstruct
from spadelib.metrics import count_parameters
from spadelib.models import build


@pytest.fixture
def setup(tiny_varnet_preset, data_dir):
    torch.manual_seed(0)
    return build("varnet", tiny_varnet_preset), mri_dataset("test", tiny_varnet_preset,
                                                            progress=False)


def test_evaluate_reports_the_metrics(setup):
    net, data = setup
    ev = evaluate(net, data, batch_size=1, timing_repeats=1)
    assert isinstance(ev, Evaluation) and ev.n == len(data)
    assert ev.params == count_parameters(net) and ev.time_ms > 0
    assert 0 < ev.ssim <= 1 and ev.psnr > 0 and ev.psnr_std >= 0
    assert set(ev.as_dict()) == {"psnr", "ssim", "psnr_std", "time_ms", "params", "n",
                                 "ssim_std", "psnr_per_sample", "ssim_per_sample",
                                 "time_ms_all", "iterations", "residual_median",
                                 "converged_share", "diverging_share", "residual_rate",
                                 "residual_per_sample"}
    assert ev.residual_median is None and ev.converged_share is None   # no fixed point
    assert len(ev.psnr_per_sample) == len(ev.ssim_per_sample) == len(data)
    assert ev.psnr == pytest.approx(sum(ev.psnr_per_sample) / len(data))
    assert ev.time_ms in ev.time_ms_all or len(ev.time_ms_all) % 2 == 0
    assert "dB" in str(ev) and net.training       # the network's mode is restored


def test_reconstruct_keeps_the_order(setup):
    net, data = setup
    both = reconstruct(net, data, batch_size=2)
    one = reconstruct(net, data.subset([1]), batch_size=1)
    assert both.shape == (len(data), 2, 32, 32)
    torch.testing.assert_close(both[1:], one)


def test_non_finite_measurements_are_refused(setup):
    net, data = setup
    kspace = data.fields["kspace"].clone()
    kspace[0, 0, 0, 0, 0] = float("nan")      # a NaN refuses the set, on or off the mask
    bad = SampleSet(data.sample_type, {**data.fields, "kspace": kspace}, data.constants,
                    data.measurement_type)
    with pytest.raises(ValueError, match="'kspace' of the data holds 1 non-finite"):
        evaluate(net, bad)
    maps = data.fields["coil_maps"].clone()
    maps[1] = float("inf")
    bad = SampleSet(data.sample_type, {**data.fields, "coil_maps": maps}, data.constants,
                    data.measurement_type)
    with pytest.raises(ValueError, match="'coil_maps' of the data holds .* non-finite"):
        reconstruct(net, bad)


def test_a_non_finite_ground_truth_is_refused_by_name(setup):
    net, data = setup
    for bad_value in (float("nan"), float("inf")):
        target = data.fields["target"].clone()
        target[0, 0, 0, 0] = bad_value     # not "is the target all zeros?" from the PSNR
        bad = SampleSet(data.sample_type, {**data.fields, "target": target}, data.constants,
                        data.measurement_type)
        with pytest.raises(ValueError, match="ground truth 'target' of the data holds 1 "
                                             "non-finite"):
            evaluate(net, bad, timing_repeats=1)


def test_bad_inputs_are_refused(setup):
    net, data = setup
    with pytest.raises(ValueError, match="needs a split with ground truth"):
        evaluate(net, data.measurements_only())
    with pytest.raises(ValueError, match="empty data set"):
        evaluate(net, data.subset([]))
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        evaluate(net, data, batch_size=0)
    with pytest.raises(ValueError, match="timing_repeats must be an int >= 1"):
        evaluate(net, data, timing_repeats=0)
    with pytest.raises(TypeError, match="data must be a SampleSet"):
        evaluate(net, data.batch())
    with pytest.raises(TypeError, match="net must be an nn.Module"):
        evaluate(lambda m: m, data)


def test_evaluate_reports_the_deq_solver_iterations(tiny_preset, data_dir):
    P = tiny_preset.replace(deq_blocks=1, deq_features=4, deq_max_iter=6)
    torch.manual_seed(0)
    deq, data = build("deq", P), mri_dataset("test", P, progress=False)
    ev = evaluate(deq, data, batch_size=2, timing_repeats=1)
    assert ev.iterations is not None and 1 <= ev.iterations <= P.deq_max_iter
    assert evaluate(build("varnet", P.replace(varnet_cascades=1, varnet_chans=2,
                                              varnet_pools=1)), data,
                    timing_repeats=1).iterations is None
