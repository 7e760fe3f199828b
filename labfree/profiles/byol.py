"""The BYOL chapter: BYOL, its two ablations (no predictor, no moving average), the EMA rate and
the batch size against SimCLR's.

``recipe`` is shared by every run of a profile (SimCLR's too, in the batch-size sweep); ``heads``
are the projector and predictor widths (``{}`` keeps the papers' 4096/256 heads); ``ema_tau`` is
the base rate of BYOL's cosine schedule; ``n_seeds`` training seeds repeat the base run and the two
ablations, the first ``n_sweep_seeds`` of them the two sweeps.
"""

MINUTES = {"reference": 12}  # one thread of a CPU with native bf16

PROFILES = {
    # a minute on one CPU thread: width-8 CNN, 32-d features, 128-wide heads, 1 024 shapes,
    # 10 epochs (about 80 steps a run), one seed
    "ci": {
        "dataset": "shapes", "n_train": 1024, "n_seeds": 1, "n_sweep_seeds": 1,
        "recipe": {"encoder": "small_cnn", "encoder_kwargs": {"width": 8, "out_dim": 32},
                   "augment": "simclr_cifar", "epochs": 10, "batch_size": 128,
                   "momentum": [0.85, 0.9], "lr": 0.5, "amp": False},
        "heads": {"projector_kwargs": {"hidden_dim": 128, "out_dim": 32},
                  "predictor_kwargs": {"hidden_dim": 128}},
        "ema_tau": 0.99, "taus": [0.99, 1.0], "batch_sizes": [32, 128],
    },
    # about 12 minutes on one thread of a bf16 CPU: width-16 CNN, 64-d features, 256-wide heads,
    # all 10 000 training shapes with the thesis' shapes stack, 6 epochs (234 steps; in trials
    # a 2-epoch run probed 0.587, a 12-epoch one 0.592, and the one-cycle schedule flattens the
    # loss by the end); BYOL and its ablations over three seeds, the sweeps over
    # one: 14 runs of 7-9 s an epoch (CPU time measured under load; batch 64 about 1.3x) and
    # 3 s a probe
    "reference": {
        "dataset": "shapes", "n_train": None, "n_seeds": 3, "n_sweep_seeds": 1,
        "recipe": {"encoder": "small_cnn", "encoder_kwargs": {"width": 16, "out_dim": 64},
                   "augment": "shapes", "epochs": 6, "batch_size": 256,
                   "momentum": [0.85, 0.9], "lr": 0.5, "amp": "auto"},
        "heads": {"projector_kwargs": {"hidden_dim": 256, "out_dim": 64},
                  "predictor_kwargs": {"hidden_dim": 256}},
        "ema_tau": 0.99, "taus": [0.9, 0.99, 1.0], "batch_sizes": [64, 256],
    },
    # ResNet-18L with the papers' heads on all the shapes (GPU hours)
    "full": {
        "dataset": "shapes", "n_train": None, "n_seeds": 1, "n_sweep_seeds": 1,
        "recipe": {"encoder": "resnet18l", "augment": "shapes", "epochs": 200,
                   "batch_size": 512},
        "heads": {}, "ema_tau": 0.996, "taus": [0.9, 0.99, 0.996, 1.0],
        "batch_sizes": [64, 128, 256, 512],
    },
    # CIFAR-10 in Colab (downloads)
    "online": {
        "dataset": "cifar10", "n_train": None, "n_seeds": 1, "n_sweep_seeds": 1,
        "recipe": {"encoder": "resnet18l", "augment": "simclr_cifar", "epochs": 100,
                   "batch_size": 512},
        "heads": {}, "ema_tau": 0.996, "taus": [0.99, 0.996], "batch_sizes": [128, 512],
    },
}
