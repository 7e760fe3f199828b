"""The milestones chapter: SimSiam, SimCLR and MoCo-v2 measured with and without labels at milestones.

Every profile trains the three methods with the thesis' optimisers (sec. 4.1.2; the recipes are on
the page) and measures each milestone with a linear probe and the label-free metrics of a UMAP
reduction of the test features. ``budget`` is the encoder, the epochs and the milestones; ``heads``
overrides the methods' heads (the thesis' 2048-wide heads where it is empty); ``umap_epochs`` is
UMAP's optimisation length (``None``: the library's default), ``n_test`` how many test images are
measured (UMAP is most of the chapter's cost).
"""

MINUTES = {"reference": 10}  # one thread of a CPU with native bf16 (measured parts, unloaded)

# The CI profile's heads and MoCo queue, shrunk in proportion to its 128-dimensional encoder.
_NARROW = {"simsiam": {"projector_kwargs": {"hidden_dim": 256, "out_dim": 256},
                       "predictor_kwargs": {"hidden_dim": 64}},
           "simclr": {"projector_kwargs": {"hidden_dim": 256, "out_dim": 64}},
           "moco_v2": {"projector_kwargs": {"hidden_dim": 256, "out_dim": 64},
                       "queue_length": 512}}
_THESIS_SCALE = {"encoder": "resnet18l", "epochs": 200, "batch_size": 512, "milestone_every": 20,
                 "milestone_at": [1, 2, 5, 10]}

PROFILES = {
    # a minute or two on one CPU thread: width-8 CNN, 1 024 shapes, 12 epochs, six milestones
    "ci": {
        "datasets": ["shapes"], "n_train": 1024, "n_test": 500, "umap_epochs": 200,
        "budget": {"encoder": "small_cnn", "encoder_kwargs": {"width": 8, "out_dim": 128},
                   "epochs": 12, "batch_size": 128, "milestone_every": 4, "milestone_at": [1, 2],
                   "amp": False},
        "heads": _NARROW,
    },
    # one thread of a bf16 CPU: width-16 CNN on all 10 000 training shapes, 24 epochs (5-6 s
    # each), a milestone after epoch 1 and every 2 epochs (14 per method with the
    # initialisation), the whole test set (1 000 images) measured, UMAP's optimisation 200
    # epochs (about 1 s a fit; a milestone's probe on 10 000 images about 2.5 s); heads a
    # quarter of the thesis' width
    "reference": {
        "datasets": ["shapes"], "n_train": None, "n_test": None, "umap_epochs": 200,
        "budget": {"encoder": "small_cnn", "encoder_kwargs": {"width": 16, "out_dim": 128},
                   "epochs": 24, "batch_size": 256, "milestone_every": 2, "milestone_at": [1],
                   "amp": "auto"},
        "heads": {"simsiam": {"projector_kwargs": {"hidden_dim": 512, "out_dim": 512},
                              "predictor_kwargs": {"hidden_dim": 128}},
                  "simclr": {"projector_kwargs": {"hidden_dim": 512, "out_dim": 128}},
                  "moco_v2": {"projector_kwargs": {"hidden_dim": 512, "out_dim": 128}}},
    },
    # the thesis' scale on a GPU: ResNet-18L for 200 epochs on all shapes and digits
    "full": {
        "datasets": ["shapes", "digits"], "n_train": None, "n_test": None, "umap_epochs": None,
        "budget": _THESIS_SCALE, "heads": {},
    },
    # the thesis' data sets, CIFAR-10 and CIFAR-100 (downloads), on a GPU
    "online": {
        "datasets": ["cifar10", "cifar100"], "n_train": None, "n_test": None, "umap_epochs": None,
        "budget": _THESIS_SCALE, "heads": {},
    },
}
