"""The SimCLR chapter: a base run, the projector study, and the thesis' grid one axis at a time.

Every profile trains with the thesis' SimCLR recipe (SGD, one-cycle to 0.5 at batch 512 scaled by
sqrt(batch / 512), momentum 0.85-0.9, weight decay 1e-4); ``recipe`` is what a profile changes.
"""

MINUTES = {"reference": 20}  # one thread of a CPU with native bf16

PROFILES = {
    # a minute on one CPU thread: width-8 CNN, 2 048 shapes, 6 epochs, one seed
    "ci": {
        "dataset": "shapes", "n_train": 2048, "n_seeds": 1,
        "recipe": {"encoder": "small_cnn", "encoder_kwargs": {"width": 8, "out_dim": 64},
                   "projector_kwargs": {"hidden_dim": 128, "out_dim": 32},
                   "augment": "simclr_cifar", "epochs": 6, "amp": False},
        "base": {"batch_size": 128, "temperature": 0.5, "jitter_strength": 0.5, "blur": False},
        "grid": {"batch_size": [32, 128, 512], "temperature": [0.25, 0.5, 1.0],
                 "jitter_strength": [0.25, 0.5, 1.0], "blur": [False, True]},
        "fp32_check": False,
    },
    # about 20 minutes on one thread of a bf16 CPU: width-16 CNN on all 10 000 training shapes,
    # the thesis' shapes stack, 8 epochs per run, every grid point over three seeds, and the
    # base point once more in float32 to check bf16 against it (12 epochs took 41 minutes, over
    # the 25-minute budget of a reference run)
    "reference": {
        "dataset": "shapes", "n_train": None, "n_seeds": 3,
        "recipe": {"encoder": "small_cnn", "encoder_kwargs": {"width": 16, "out_dim": 128},
                   "projector_kwargs": {"hidden_dim": 256, "out_dim": 64},
                   "augment": "shapes", "epochs": 8, "amp": "auto"},
        "base": {"batch_size": 256, "temperature": 0.5, "jitter_strength": 0.5, "blur": False},
        "grid": {"batch_size": [64, 256, 1024], "temperature": [0.25, 0.5, 1.0],
                 "jitter_strength": [0.25, 0.5, 1.0], "blur": [False, True]},
        "fp32_check": True,
    },
    # the thesis' scale: ResNet-18L, 200 epochs, its grid (GPU hours)
    "full": {
        "dataset": "shapes", "n_train": None, "n_seeds": 1,
        "recipe": {"encoder": "resnet18l", "augment": "shapes", "epochs": 200, "amp": "auto"},
        "base": {"batch_size": 512, "temperature": 0.5, "jitter_strength": 0.5, "blur": False},
        "grid": {"batch_size": [16, 32, 64, 128, 256, 512, 1024],
                 "temperature": [0.25, 0.5, 0.75, 1.0],
                 "jitter_strength": [0.25, 0.5, 0.75, 1.0], "blur": [False, True]},
        "fp32_check": False,
    },
    # CIFAR-10 in Colab (downloads), a smaller grid
    "online": {
        "dataset": "cifar10", "n_train": None, "n_seeds": 1,
        "recipe": {"encoder": "resnet18l", "augment": "simclr_cifar", "epochs": 100,
                   "amp": "auto"},
        "base": {"batch_size": 512, "temperature": 0.5, "jitter_strength": 0.5, "blur": False},
        "grid": {"batch_size": [128, 256, 512], "temperature": [0.25, 0.5, 1.0],
                 "jitter_strength": [0.25, 0.5, 1.0], "blur": [False, True]},
        "fp32_check": False,
    },
}
