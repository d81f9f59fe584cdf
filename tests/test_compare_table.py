"""`hebbtorch compare`'s table reports a spread only when several seeds measured one."""

from hebbtorch.cli.compare import comparison_table


def _summary(seeds, std):
    m = {"spiking": True, "parameters": 1000, "test_accuracy_mean": 89.0,
         "test_accuracy_std": std, "test_loss_mean": 0.3, "train_time_s_mean": 5.0}
    return {"seeds": seeds, "models": {"seed-snn": m}}


def test_one_seed_has_no_spread():
    table = comparison_table(_summary([0], 0.0))
    assert "±" not in table and "| 89.00 |" in table and "1 seed" in table


def test_several_seeds_report_mean_and_sd():
    table = comparison_table(_summary([0, 1, 2], 0.5))
    assert "89.00 ± 0.50" in table and "3 seeds" in table
