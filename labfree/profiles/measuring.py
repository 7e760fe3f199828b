"""The measuring chapter: one SimCLR run gives a trained encoder and its random initialisation,
and every instrument of ``labfree.metrics`` compares the two.

Every profile trains with the thesis' SimCLR recipe (SGD, one-cycle to 0.5, momentum 0.85-0.9,
weight decay 1e-4, temperature 0.5); ``recipe`` is what a profile changes. ``n_seeds`` training
seeds ``seed .. seed + n_seeds - 1``: the first is measured step by step on the page, the others
repeat the measurements so that each metric's verdict can be read against the seed noise.
"""

MINUTES = {"reference": 10}  # one thread of a CPU with native bf16

PROFILES = {
    # seconds to a minute on one CPU thread: width-8 CNN, 2 048 shapes, 15 epochs, one seed
    "ci": {
        "dataset": "shapes", "n_train": 2048, "n_seeds": 1,
        "recipe": {"encoder": "small_cnn", "encoder_kwargs": {"width": 8, "out_dim": 128},
                   "projector_kwargs": {"hidden_dim": 256, "out_dim": 64},
                   "augment": "simclr_cifar", "epochs": 15, "batch_size": 128, "amp": False},
    },
    # about 10 minutes on one thread of a bf16 CPU: width-16 CNN on all 10 000 training shapes
    # with the thesis' shapes stack, 15 epochs, five training seeds: 5 runs of 5.3 s an epoch
    # (CPU time measured under load) and about 30 s of probes, detectors and UMAP per run. In a
    # trial (seed 0) the L-BFGS probe read 0.54 at initialisation, 0.75, 0.85 and 0.87 after
    # epochs 5, 10 and 15; the loss fell 0.14 in the second epoch, 0.07 in the last five.
    "reference": {
        "dataset": "shapes", "n_train": None, "n_seeds": 5,
        "recipe": {"encoder": "small_cnn", "encoder_kwargs": {"width": 16, "out_dim": 128},
                   "projector_kwargs": {"hidden_dim": 256, "out_dim": 64},
                   "augment": "shapes", "epochs": 15, "batch_size": 256, "amp": "auto"},
    },
    # the thesis' scale: ResNet-18L, 200 epochs (GPU hours)
    "full": {
        "dataset": "shapes", "n_train": None, "n_seeds": 1,
        "recipe": {"encoder": "resnet18l", "augment": "shapes", "epochs": 200,
                   "batch_size": 512},
    },
    # the same on a Colab GPU
    "online": {
        "dataset": "shapes", "n_train": None, "n_seeds": 1,
        "recipe": {"encoder": "resnet18l", "augment": "shapes", "epochs": 200,
                   "batch_size": 512},
    },
}
