"""The mutual-information assignment: InfoNCE and NWJ from a critic's score matrix, a separable
critic, the optimal critic of correlated Gaussians, a staircase, and InfoNCE's ceiling log N.

The data are ``d`` independent pairs of standard Gaussians with correlation ``rho``
(:func:`labfree.mi.sample_correlated_gaussians`), whose mutual information is known in closed
form. ``mi_schedule`` is the staircase (nats per stage), ``steps_per_stage`` Adam steps at
``lr`` each, one fresh batch of ``batch_size`` pairs per step; the separable critic has two hidden
layers of ``hidden`` units and embeds in ``embed`` dimensions. ``small_batch`` is the second
batch size the InfoNCE staircase is trained with. The optimal critic is evaluated on
``optimal_batches`` fresh batches per stage, and on ``saturation_batches`` batches of each size in
``batch_sizes`` at each information in ``saturation_mi``.
"""

import copy

CHAPTER = "assignments/mi"

PROFILES = {
    # well under a minute on one CPU thread: Poole et al.'s benchmark (d = 20, batch 64, the
    # 2-10 nat staircase, lr 5e-4) with 600 steps a stage instead of 4 000 and 128 hidden units
    # instead of 256; three trained critics (InfoNCE at N = 64 and 16, NWJ at N = 64), 9-14 s
    # in all (measured, one thread, shared 2-core CPU)
    "ci": {
        "d": 20, "batch_size": 64, "small_batch": 16,
        "mi_schedule": [2.0, 4.0, 6.0, 8.0, 10.0], "steps_per_stage": 600,
        "hidden": 128, "embed": 32, "lr": 5e-4,
        "optimal_batches": 200,
        "batch_sizes": [8, 32, 128, 512], "saturation_mi": [1.0, 2.0, 4.0, 6.0, 8.0, 10.0],
        "saturation_batches": 20,
    },
}
# seconds: what the grading tests (tests/test_grade.py) run a submission in. The CI settings with a
# tenth of the steps and batches; the hidden tests check how each part is computed, and their
# calibrated thresholds apply to the CI profile only
PROFILES["grading"] = copy.deepcopy(PROFILES["ci"]) | {
    "steps_per_stage": 60, "optimal_batches": 20, "saturation_batches": 4}
