"""The judging assignment: rank a zoo of encoders without labels (alpha, effective rank,
clustering agreement), pick one on a probe budget as alpha-ReQ does, and check the choice
against linear probes under two label schemes of the shapes.

``zoo`` lists the training runs that make the encoders, each ``[name, method, epochs,
milestone_every, keep_initial, overrides]``: a run with ``milestone_every`` contributes its encoder
at every milestone (``"<name>, epoch <k>"``), one without contributes its last; ``keep_initial``
adds the run's initial weights as ``"random init"``. Every run shares ``recipe``; ``"supervised"``
runs train on the ``supervised_scheme`` labels. ``n_train`` images train the zoo, the probes
train on ``n_probe`` balanced images of each of ``schemes`` and are tested on ``n_test`` test
shapes (``None``: all 1 000); the label-free metrics are computed on the same test images with
``n_clusters`` clusters for C1 (twice as many for C2).
"""

CHAPTER = "assignments/judging"

RECIPE = {"encoder": "small_cnn", "encoder_kwargs": {"width": 8, "out_dim": 128},
          "batch_size": 128, "amp": False}
SIMCLR = {"augment": "simclr_cifar", "projector_kwargs": {"hidden_dim": 256, "out_dim": 64}}
VICREG = {"augment": "simclr_cifar", "projector_kwargs": {"widths": [256, 256, 256]}, "lr": 3.0}
NO_VARIANCE = VICREG | {"loss_kwargs": {"var_weight": 0}}
SUPERVISED = {"augment": "rotation"}

PROFILES = {
    # nine width-8 CNNs from four short runs on 2 048 shapes, 18 probes, nine UMAP reductions:
    # 84 s of CPU for the whole papermill run on one thread (seed 0; 201 s wall on the shared
    # 2-core machine at a load of 5-7), of which about 30 s train the zoo
    "ci": {
        "n_train": 2048, "n_probe": 1024, "n_test": None, "schemes": ["all", "edge"],
        "n_clusters": 4, "supervised_scheme": "edge",
        "recipe": RECIPE,
        "zoo": [
            ["SimCLR", "simclr", 8, 2, True, SIMCLR],
            ["VICReg", "vicreg", 8, 4, False, VICREG],
            ["VICReg without variance", "vicreg", 4, None, False, NO_VARIANCE],
            ["supervised on edge", "supervised", 4, None, False, SUPERVISED],
        ],
    },
    # seconds: what the grading tests (tests/test_grade.py) run a submission in. Seven encoders
    # from four one- or two-epoch runs on 512 shapes, measured on 400 test shapes; the hidden
    # tests check how each part is computed, and their calibrated thresholds apply to the CI
    # profile only
    "grading": {
        "n_train": 512, "n_probe": 256, "n_test": 400, "schemes": ["all", "edge"],
        "n_clusters": 4, "supervised_scheme": "edge",
        "recipe": RECIPE,
        "zoo": [
            ["SimCLR", "simclr", 2, 1, True, SIMCLR],
            ["VICReg", "vicreg", 2, 1, False, VICREG],
            ["VICReg without variance", "vicreg", 1, None, False, NO_VARIANCE],
            ["supervised on edge", "supervised", 1, None, False, SUPERVISED],
        ],
    },
}
