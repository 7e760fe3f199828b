"""The methods chapter: six self-supervised methods side by side on one budget.

Every method keeps its own optimiser recipe (``losses.METHODS``); a profile sets what they share —
data, encoder, augmentations, epochs, batch size, training seeds — in ``recipe``, and each method's
head widths (and MoCo's queue) in ``heads``. ``n_shown`` test points are drawn in the PCA, t-SNE
and UMAP pictures.
"""

# one thread of a CPU with native bf16: 6 methods x 2 seeds x 10 epochs of 10 000 shapes at about
# 7 s an epoch (6 s SimCLR to 8 s MoCo-v2, measured as CPU time), 14 probes, the pictures
MINUTES = {"reference": 16}

_NARROW = {  # narrow heads for a small CNN with 128-dimensional features
    "simclr": {"projector_kwargs": {"hidden_dim": 128, "out_dim": 64}},
    "moco_v2": {"projector_kwargs": {"hidden_dim": 128, "out_dim": 64}, "queue_length": 1024},
    "simsiam": {"projector_kwargs": {"hidden_dim": 128, "out_dim": 128},
                "predictor_kwargs": {"hidden_dim": 32}},
    "byol": {"projector_kwargs": {"hidden_dim": 128, "out_dim": 64},
             "predictor_kwargs": {"hidden_dim": 128}},
    "vicreg": {"projector_kwargs": {"widths": (256, 256)}},
    "barlow_twins": {"projector_kwargs": {"widths": (256, 256)}},
}

PROFILES = {
    # a few minutes on one CPU thread: width-8 CNN, 1 024 shapes, 5 epochs per method, one seed
    "ci": {
        "dataset": "shapes", "n_train": 1024, "n_seeds": 1, "n_shown": 500,
        "recipe": {"encoder": "small_cnn", "encoder_kwargs": {"width": 8, "out_dim": 128},
                   "augment": "simclr_cifar", "epochs": 5, "batch_size": 128, "amp": False},
        "heads": _NARROW,
    },
    # about 16 minutes on one thread of a bf16 CPU: width-16 CNN on all 10 000 training shapes,
    # the thesis' shapes stack, 10 epochs per method at batch 256, two training seeds, heads twice
    # as wide as the CI profile's (512-wide for VICReg and Barlow Twins)
    "reference": {
        "dataset": "shapes", "n_train": None, "n_seeds": 2, "n_shown": 500,
        "recipe": {"encoder": "small_cnn", "encoder_kwargs": {"width": 16, "out_dim": 128},
                   "augment": "shapes", "epochs": 10, "batch_size": 256, "amp": "auto"},
        "heads": {
            "simclr": {"projector_kwargs": {"hidden_dim": 256, "out_dim": 64}},
            "moco_v2": {"projector_kwargs": {"hidden_dim": 256, "out_dim": 64},
                        "queue_length": 4096},
            "simsiam": {"projector_kwargs": {"hidden_dim": 256, "out_dim": 256},
                        "predictor_kwargs": {"hidden_dim": 64}},
            "byol": {"projector_kwargs": {"hidden_dim": 256, "out_dim": 64},
                     "predictor_kwargs": {"hidden_dim": 256}},
            # LARS peaks at lr 3, not the recipe's 0.3 (as in the vicreg chapter): at 0.3 the
            # first record (commit 1954ed4) had Barlow Twins below the random encoder (0.525 vs
            # 0.548); one seed of it at lr 1 probed 0.593, at lr 3 0.654
            "vicreg": {"projector_kwargs": {"widths": (512, 512)}, "lr": 3.0},
            "barlow_twins": {"projector_kwargs": {"widths": (512, 512)}, "lr": 3.0},
        },
    },
    # ResNet-18L for 200 epochs per method on all 10 000 shapes, the papers' heads (GPU hours)
    "full": {
        "dataset": "shapes", "n_train": None, "n_seeds": 1, "n_shown": 1000,
        "recipe": {"encoder": "resnet18l", "augment": "shapes", "epochs": 200, "batch_size": 512},
        "heads": {name: {} for name in _NARROW},
    },
    # the same on CIFAR-10 in Colab (downloads)
    "online": {
        "dataset": "cifar10", "n_train": None, "n_seeds": 1, "n_shown": 1000,
        "recipe": {"encoder": "resnet18l", "augment": "simclr_cifar", "epochs": 200,
                   "batch_size": 512},
        "heads": {name: {} for name in _NARROW},
    },
}
