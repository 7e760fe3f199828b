"""The views chapter: SimCLR trained with four kinds of view (identical, square crops, crops that
stretch, crops that rotate), each encoder probed under three label schemes (all, regular, edge).

Every profile trains with the thesis' SimCLR recipe (SGD, one-cycle to 0.5, momentum 0.85-0.9,
weight decay 1e-4, temperature 0.5) and only the views differ; ``recipe`` is what a profile
changes in the runs, ``n_seeds`` the training seeds per kind of view (``seed .. seed + n - 1``)
and ``n_train`` the training shapes, which are also the probes' training set (``None``: all
10 000).
"""

MINUTES = {"reference": 12}  # one thread of a CPU with native bf16

PROFILES = {
    # about a minute on one CPU thread: width-8 CNN, 2 048 shapes, 10 epochs, one seed per view
    "ci": {
        "n_train": 2048, "n_seeds": 1,
        "recipe": {"encoder": "small_cnn", "encoder_kwargs": {"width": 8, "out_dim": 64},
                   "projector_kwargs": {"hidden_dim": 128, "out_dim": 32}, "epochs": 10,
                   "batch_size": 128, "amp": False},
    },
    # about 12 minutes on one thread of a bf16 CPU: width-16 CNN on all 10 000 training shapes,
    # three seeds per kind of view, the probes on all 10 000 shapes under each scheme
    "reference": {
        "n_train": None, "n_seeds": 3,
        "recipe": {"encoder": "small_cnn", "encoder_kwargs": {"width": 16, "out_dim": 128},
                   "projector_kwargs": {"hidden_dim": 256, "out_dim": 64}, "epochs": 7,
                   "batch_size": 256, "amp": "auto"},
    },
    # ResNet-18L for 200 epochs on all 10 000 shapes, three seeds per kind of view (GPU)
    "full": {
        "n_train": None, "n_seeds": 3,
        "recipe": {"encoder": "resnet18l", "epochs": 200, "batch_size": 512},
    },
}
