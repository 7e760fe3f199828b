"""The alpha chapter: eigenspectra, alpha and RankMe against the probe, and a Barlow Twins sweep.

Every profile trains each of ``encoders`` (name -> ``[encoder, encoder_kwargs]``) with each of
``objectives`` for ``epochs``, and sweeps Barlow Twins over the projector width ``widths`` (d) and
the redundancy weight ``lambdas`` (λ) on the first encoder for ``sweep_epochs`` per run, measuring
each sweep run every ``sweep_milestone_every`` epochs: those checkpoints are the pool that
α-based model selection chooses from. ``heads`` overrides the methods' heads (their defaults where
it is empty), and ``lr`` a method's peak learning rate (its recipe's where it is absent).
"""

MINUTES = {"reference": 11}  # one thread of a CPU with native bf16

PROFILES = {
    # a minute or two on one CPU thread: width-8 CNN and VGG, 1 024 shapes, a 3 x 3 sweep
    "ci": {
        "n_train": 1024, "n_test": 1000, "epochs": 6, "sweep_epochs": 4,
        "sweep_milestone_every": 2, "batch_size": 128, "amp": False,
        "encoders": {"CNN": ["small_cnn", {"width": 8, "out_dim": 128}],
                     "VGG": ["small_vgg", {"width": 8, "out_dim": 128}]},
        "objectives": ["supervised", "simclr", "barlow_twins"],
        "widths": [32, 128, 512], "lambdas": [5e-4, 5e-3, 5e-2],
        "heads": {"simclr": {"hidden_dim": 256, "out_dim": 64},
                  "barlow_twins": {"widths": [256, 256]}},
        "lr": {},
    },
    # one thread of a bf16 CPU: width-16 CNN and VGG on all 10 000 training shapes, 8 epochs
    # per objective, a 3 x 3 sweep of 5 epochs per run measured after every epoch (45
    # checkpoints to choose from); probes on all 10 000 training images, spectra and probe
    # accuracy on the whole test set
    "reference": {
        "n_train": None, "n_test": None, "epochs": 8, "sweep_epochs": 5,
        "sweep_milestone_every": 1, "batch_size": 256, "amp": "auto",
        "encoders": {"CNN": ["small_cnn", {"width": 16, "out_dim": 128}],
                     "VGG": ["small_vgg", {"width": 16, "out_dim": 128}]},
        "objectives": ["supervised", "simclr", "barlow_twins"],
        "widths": [64, 256, 1024], "lambdas": [5e-4, 5e-3, 5e-2],
        "heads": {"simclr": {"hidden_dim": 512, "out_dim": 128},
                  "barlow_twins": {"widths": [512, 512]}},
        # LARS at lr 3, not the recipe's 0.3: at 0.3 Barlow Twins barely learns on these shapes
        # (the methods chapter: 0.525 at 0.3, 0.654 at 3; the first alpha record, commit e367067,
        # had it the worst objective of both encoders)
        "lr": {"barlow_twins": 3.0},
    },
    # ResNet-18L, a wider VGG and a ViT for 100 epochs, a 3 x 4 sweep, on a GPU
    "full": {
        "n_train": None, "n_test": 1000, "epochs": 100, "sweep_epochs": 100,
        "sweep_milestone_every": 20, "batch_size": 256, "amp": "auto",
        "encoders": {"ResNet-18L": ["resnet18l", {}],
                     "VGG": ["small_vgg", {"width": 64, "out_dim": 512}],
                     "ViT": ["small_vit", {"dim": 256, "depth": 8, "heads": 8}]},
        "objectives": ["supervised", "simclr", "barlow_twins"],
        "widths": [256, 1024, 4096], "lambdas": [1e-4, 5e-4, 5e-3, 5e-2],
        "heads": {},
        "lr": {},
    },
}
