"""The VICReg assignment: VICReg, two ablations (no variance term, neighbours as positives), and
four uses of the representation (probe, retrieval, anomaly detection, clustering).

Every profile trains VICReg (LARS, the method's loss weights) with ``recipe``; the ablations reuse
it. ``n_seeds`` training seeds ``seed .. seed + n_seeds - 1``: the first runs the six parts on the
page, the others repeat their numbers (not their figures) so that the record gives a spread.
"""

CHAPTER = "assignments/vicreg"

MINUTES = {"reference": 10}  # one thread of a CPU with native bf16

PROFILES = {
    # minutes on one CPU thread: width-8 CNN, a narrow expander, 2 048 shapes, 20 epochs
    "ci": {
        "dataset": "shapes", "n_train": 2048, "n_seeds": 1,
        "recipe": {"encoder": "small_cnn", "encoder_kwargs": {"width": 8, "out_dim": 128},
                   "projector_kwargs": {"widths": [256, 256, 256]}, "augment": "simclr_cifar",
                   "epochs": 20, "batch_size": 128, "lr": 3.0, "amp": False},
    },
    # seconds: what the grading tests (tests/test_grade.py) run a submission in, so that grading a
    # solution, a partial and a broken submission costs little; the hidden tests check how each
    # part is computed, not how good the result is, so they hold in every profile
    "grading": {
        "dataset": "shapes", "n_train": 512, "n_seeds": 1,
        "recipe": {"encoder": "small_cnn", "encoder_kwargs": {"width": 8, "out_dim": 128},
                   "projector_kwargs": {"widths": [256, 256, 256]}, "augment": "simclr_cifar",
                   "epochs": 2, "batch_size": 128, "lr": 3.0, "amp": False},
    },
    # about 10 minutes on one thread of a bf16 CPU: width-16 CNN on all 10 000 training shapes
    # with an expander four times as wide as the features (VICReg's ratio), SimCLR's CIFAR stack
    # as in CI, 8 epochs, the three models over three training seeds: 9 runs of 6.4 s an epoch
    # (CPU time measured under load) and about 1.5 min of maps, eigenmaps and probes. In a
    # 12-epoch trial (seed 0) the L-BFGS probe read 0.835, 0.848 and 0.833 after epochs 4, 8
    # and 12 (the loss fell 0.8 in the second epoch, 0.1 in the eighth, 0.07 in the twelfth).
    # The thesis' shapes stack (rotation added) cost 8.7 s an epoch and left the probe at 0.72
    # after 12 epochs.
    "reference": {
        "dataset": "shapes", "n_train": None, "n_seeds": 3,
        "recipe": {"encoder": "small_cnn", "encoder_kwargs": {"width": 16, "out_dim": 128},
                   "projector_kwargs": {"widths": [512, 512, 512]},
                   "augment": "simclr_cifar", "epochs": 8, "batch_size": 256, "lr": 3.0,
                   "amp": "auto"},
    },
    # the thesis' scale: ResNet-18L, 200 epochs, VICReg's defaults (GPU hours)
    "full": {
        "dataset": "shapes", "n_train": None, "n_seeds": 1,
        "recipe": {"encoder": "resnet18l", "augment": "shapes", "epochs": 200,
                   "batch_size": 512},
    },
    # CIFAR-10 in Colab (downloads), MNIST as the outliers
    "online": {
        "dataset": "cifar10", "n_train": None, "n_seeds": 1,
        "recipe": {"encoder": "resnet18l", "augment": "simclr_cifar", "epochs": 30,
                   "batch_size": 512},
    },
}
