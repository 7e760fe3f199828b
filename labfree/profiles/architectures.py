"""The architectures chapter: a zoo of encoders, probed and measured without labels (Table 5.1).

Every profile trains each member of ``zoo`` (family -> list of ``[encoder, encoder_kwargs]``) with
``method`` (supervised by default: Table 5.1's models were trained with labels) and measures it at
its initialisation, at the ``milestone_at`` epochs and at the end, on two probe tasks of the same
test images. ``amp`` is one choice for every member, or one per family; ``umap_epochs`` is UMAP's
optimisation length (``None``: the library's default). ``imagenet_zoo`` (online profile only) adds
torchvision's ImageNet classifiers, frozen.
"""

MINUTES = {"reference": 10}  # one thread of a CPU with native bf16

_CI_ZOO = {
    "CNN": [["small_cnn", {"width": 8, "out_dim": 128}],
            ["small_cnn", {"width": 16, "out_dim": 128}]],
    "VGG": [["small_vgg", {"width": 8, "out_dim": 128}]],
    "ViT": [["small_vit", {"dim": 32, "depth": 2, "heads": 4}]],
}
_IMAGENET_ZOO = {"ResNet": ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"],
                 "DenseNet": ["densenet121", "densenet161", "densenet169", "densenet201"],
                 "EfficientNet": [f"efficientnet_b{i}" for i in range(8)]}

PROFILES = {
    # a minute or two on one CPU thread: four small encoders, 1 024 shapes, 6 epochs
    "ci": {
        "method": "supervised", "n_train": 1024, "n_test": 500, "epochs": 6,
        "milestone_at": [2], "batch_size": 64, "umap_epochs": None, "amp": False,
        "zoo": _CI_ZOO,
        "imagenet_zoo": None,
    },
    # one thread of a bf16 CPU: two members per family, CNNs and VGGs of widths 16 and 32 and
    # ViTs of the same order of size (64 and 96 dimensions, four blocks, 7x7 patches), on all
    # 10 000 training shapes for 12 epochs, each measured at seven milestones on the whole test
    # set (1 000 images), UMAP's optimisation 200 epochs. The ViTs train in float32: on this
    # CPU, bf16 attention and layer norms ran three times slower than float32 (measured),
    # while bf16 convolutions run twice faster.
    "reference": {
        "method": "supervised", "n_train": None, "n_test": None, "epochs": 12,
        "milestone_at": [1, 2, 3, 5, 8], "batch_size": 128, "umap_epochs": 200,
        "amp": {"CNN": "auto", "VGG": "auto", "ViT": False},
        "zoo": {"CNN": [["small_cnn", {"width": 16, "out_dim": 128}],
                        ["small_cnn", {"width": 32, "out_dim": 128}]],
                "VGG": [["small_vgg", {"width": 16, "out_dim": 128}],
                        ["small_vgg", {"width": 32, "out_dim": 128}]],
                "ViT": [["small_vit", {"dim": 64, "depth": 4, "heads": 4, "patch_size": 7}],
                        ["small_vit", {"dim": 96, "depth": 4, "heads": 4, "patch_size": 7}]]},
        "imagenet_zoo": None,
    },
    # eleven encoders, ResNet-18L and ResNet-34L among them, for 60 epochs on a GPU
    "full": {
        "method": "supervised", "n_train": None, "n_test": 1000, "epochs": 60,
        "milestone_at": [2, 5, 10, 20, 40], "batch_size": 256, "umap_epochs": None,
        "amp": "auto",
        "zoo": {"ResNet": [["resnet18l", {}], ["resnet34l", {}]],
                "CNN": [["small_cnn", {"width": w, "out_dim": 256}] for w in (16, 32, 64)],
                "VGG": [["small_vgg", {"width": w, "out_dim": 256}] for w in (16, 32, 64)],
                "ViT": [["small_vit", {"dim": d, "depth": k, "heads": 4}]
                        for d, k in ((128, 4), (192, 6), (256, 8))]},
        "imagenet_zoo": None,
    },
    # the CI zoo and the thesis' own zoo of torchvision's ImageNet classifiers (downloads)
    "online": {
        "method": "supervised", "n_train": 1024, "n_test": 500, "epochs": 6,
        "milestone_at": [2], "batch_size": 64, "umap_epochs": None, "amp": "auto",
        "zoo": _CI_ZOO,
        "imagenet_zoo": _IMAGENET_ZOO,
    },
}
