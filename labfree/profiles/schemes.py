"""The label-schemes chapter: four (six with ImageNet) preparations of an encoder, each probed under
the eight label schemes of the thesis' Table 3.1, and the complexity framework run on the table.

``encoder`` is the architecture of every preparation; ``simclr`` and ``supervised`` are what a
profile changes in the SimCLR and supervised runs (the recipe itself, SGD one-cycle to 0.5 for
SimCLR and Adam one-cycle for supervised training, is the thesis' and lives in the chapter);
``n_probe`` is the size of each scheme's balanced probe training set (``None``: all 10 000);
``n_seeds`` trains every preparation with seeds ``seed .. seed + n_seeds - 1``; ``random_seeds``
is how many random initialisations the study of the random encoder draws.
"""

MINUTES = {"reference": 11}  # one thread of a CPU with native bf16

PROFILES = {
    # about a minute on one CPU thread: width-8 CNN, 2 048 shapes, 10 epochs, one seed
    "ci": {
        "n_train": 2048, "n_probe": 1024, "n_seeds": 1, "random_seeds": 5,
        "encoder": {"encoder": "small_cnn", "encoder_kwargs": {"width": 8, "out_dim": 128}},
        "simclr": {"augment": "simclr_cifar", "epochs": 10, "batch_size": 128,
                   "projector_kwargs": {"hidden_dim": 256, "out_dim": 64}, "amp": False},
        "supervised": {"epochs": 10, "batch_size": 128, "amp": False},
        "probe": "lbfgs", "imagenet": False,
    },
    # about 11 minutes on one thread of a bf16 CPU: width-16 CNN, every preparation on all
    # 10 000 training shapes (SimCLR 15 epochs with the thesis' shapes stack, supervised 12)
    # over three seeds, each scheme's probe on its full balanced training set, eight random
    # initialisations for the study of the random encoder
    "reference": {
        "n_train": None, "n_probe": None, "n_seeds": 3, "random_seeds": 8,
        "encoder": {"encoder": "small_cnn", "encoder_kwargs": {"width": 16, "out_dim": 128}},
        "simclr": {"augment": "shapes", "epochs": 15, "batch_size": 256,
                   "projector_kwargs": {"hidden_dim": 256, "out_dim": 64}, "amp": "auto"},
        "supervised": {"epochs": 12, "batch_size": 256, "amp": "auto"},
        "probe": "lbfgs", "imagenet": False,
    },
    # the thesis' section 3.1.2: ResNet-18L, SimCLR 200 epochs, supervised 100, Adam probes (GPU)
    "full": {
        "n_train": None, "n_probe": None, "n_seeds": 1, "random_seeds": 5,
        "encoder": {"encoder": "resnet18l"},
        "simclr": {"augment": "shapes", "epochs": 200, "batch_size": 512},
        "supervised": {"epochs": 100, "batch_size": 512},
        "probe": "adam", "imagenet": True,
    },
}
