"""The siamese chapter: SimSiam's stop-gradient and predictor, MoCo-v2's queue, Barlow Twins' lambda.

Every run keeps its method's recipe (``losses.METHODS``); ``recipe`` is what a profile shares
between the runs (encoder, augmentations, epochs, batch size), ``heads`` each method's head widths
(and SimSiam's learning rate in the small profiles), ``queue_lengths`` MoCo-v2's sweep of ``M`` and
``lambdas`` Barlow Twins' sweep of ``lambda``.
"""

# one thread of a CPU with native bf16: 9 runs per seed (3 SimSiam, 3 MoCo-v2, 3 Barlow Twins) x
# 2 seeds x 5 epochs of 10 000 shapes at 6-8 s an epoch (measured as CPU time), 18 probes
MINUTES = {"reference": 12}

_PAPERS = {"simsiam": {}, "moco_v2": {}, "barlow_twins": {}}  # the papers' heads (the defaults)

PROFILES = {
    # two minutes on one CPU thread: width-8 CNN, 1 024 shapes, 5 epochs per run, one seed
    "ci": {
        "dataset": "shapes", "n_train": 1024, "n_seeds": 1,
        "recipe": {"encoder": "small_cnn", "encoder_kwargs": {"width": 8, "out_dim": 128},
                   "augment": "simclr_cifar", "epochs": 5, "batch_size": 128, "amp": False},
        "heads": {
            # lr 0.3: SimSiam's 0.06 moves too little in 40 steps
            "simsiam": {"projector_kwargs": {"hidden_dim": 128, "out_dim": 128},
                        "predictor_kwargs": {"hidden_dim": 32}, "lr": 0.3},
            "moco_v2": {"projector_kwargs": {"hidden_dim": 128, "out_dim": 64}},
            "barlow_twins": {"projector_kwargs": {"widths": (256, 256)}},
        },
        "queue_lengths": (128, 512, 2048),
        "lambdas": (0.0, 5e-3, 5e-2),
    },
    # about 12 minutes on one thread of a bf16 CPU: width-16 CNN on all 10 000 training shapes,
    # the thesis' shapes stack, 5 epochs per run at batch 256 (195 steps), two training seeds,
    # heads twice as wide as the CI profile's; queues from 512 keys to most of the data set
    "reference": {
        "dataset": "shapes", "n_train": None, "n_seeds": 2,
        "recipe": {"encoder": "small_cnn", "encoder_kwargs": {"width": 16, "out_dim": 128},
                   "augment": "shapes", "epochs": 5, "batch_size": 256, "amp": "auto"},
        "heads": {
            "simsiam": {"projector_kwargs": {"hidden_dim": 256, "out_dim": 256},
                        "predictor_kwargs": {"hidden_dim": 64}, "lr": 0.3},
            "moco_v2": {"projector_kwargs": {"hidden_dim": 256, "out_dim": 64}},
            # LARS at lr 3, not the recipe's 0.3: on these shapes and this CNN Barlow Twins
            # learns at 3 and barely at 0.3 (see the methods profile)
            "barlow_twins": {"projector_kwargs": {"widths": (512, 512)}, "lr": 3.0},
        },
        "queue_lengths": (512, 2048, 8192),
        "lambdas": (0.0, 5e-3, 5e-2),
    },
    # ResNet-18L for 200 epochs per run on all 10 000 shapes, the papers' heads (GPU hours)
    "full": {
        "dataset": "shapes", "n_train": None, "n_seeds": 1,
        "recipe": {"encoder": "resnet18l", "augment": "shapes", "epochs": 200, "batch_size": 512},
        "heads": _PAPERS,
        "queue_lengths": (256, 1024, 4096, 8192),
        "lambdas": (0.0, 1e-3, 5e-3, 2e-2, 1e-1),
    },
    # the same on CIFAR-10 in Colab (downloads)
    "online": {
        "dataset": "cifar10", "n_train": None, "n_seeds": 1,
        "recipe": {"encoder": "resnet18l", "augment": "simclr_cifar", "epochs": 200,
                   "batch_size": 512},
        "heads": _PAPERS,
        "queue_lengths": (256, 1024, 4096, 16384),
        "lambdas": (0.0, 1e-3, 5e-3, 2e-2, 1e-1),
    },
}
