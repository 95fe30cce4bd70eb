"""A tiny randomly initialised pyannote speaker-diarization pipeline, written to disk like a real one.

Real pyannote classes throughout (PyanNet segmentation, WeSpeaker ResNet embedding, PLDA, VBx clustering), with
layers so small that the whole pipeline is a few hundred kB and diarizes 10 s of audio in about a second. Its
weights are random, so tests assert the shape of its answers (speakers, segment bounds), never who spoke when.
Only imported by tests that first check `pytest.importorskip("pyannote.audio")`.
"""
from __future__ import annotations

from pathlib import Path

import lightning
import numpy as np
import torch
import yaml
from pyannote.audio.core.task import Problem, Resolution, Specifications
from pyannote.audio.models.embedding.wespeaker import BaseWeSpeakerResNet
from pyannote.audio.models.embedding.wespeaker.resnet import BasicBlock, ResNet
from pyannote.audio.models.segmentation import PyanNet

EMBEDDING_DIM = 16
LDA_DIM = 8


class TinyWeSpeakerResNet(BaseWeSpeakerResNet):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.resnet = ResNet(BasicBlock, [1, 1, 1, 1], m_channels=4, feat_dim=80, embed_dim=EMBEDDING_DIM,
                             two_emb_layer=False)


def _save(model: torch.nn.Module, path: Path) -> Path:
    checkpoint = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                  "pytorch-lightning_version": lightning.__version__}
    model.on_save_checkpoint(checkpoint)
    torch.save(checkpoint, path)
    return path


def _segmentation() -> PyanNet:
    model = PyanNet(sincnet={"stride": 10}, lstm={"hidden_size": 16, "num_layers": 1},
                    linear={"hidden_size": 16, "num_layers": 1})
    model.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION, resolution=Resolution.FRAME, duration=5.0, min_duration=5.0,
        warm_up=(0.0, 0.0), classes=["speaker#1", "speaker#2"], powerset_max_classes=2, permutation_invariant=True,
    )
    model.build()
    return model


def _embedding() -> TinyWeSpeakerResNet:
    model = TinyWeSpeakerResNet()
    model.specifications = Specifications(problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK, duration=5.0)
    return model


def _plda(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    np.savez(folder / "xvec_transform.npz", mean1=rng.normal(size=EMBEDDING_DIM), mean2=rng.normal(size=LDA_DIM),
             lda=rng.normal(size=(EMBEDDING_DIM, LDA_DIM)))
    rotation, _ = np.linalg.qr(rng.normal(size=(LDA_DIM, LDA_DIM)))
    np.savez(folder / "plda.npz", mu=rng.normal(size=LDA_DIM), tr=rotation, psi=rng.uniform(0.5, 2.0, LDA_DIM))
    return folder


def tiny_pipeline_write(folder: Path) -> Path:
    """Write checkpoints and a config.yaml that `Pipeline.from_pretrained(path)` loads; returns the config path."""
    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "version": "4.0.0",
        "pipeline": {
            "name": "pyannote.audio.pipelines.SpeakerDiarization",
            "params": {
                "segmentation": str(_save(_segmentation(), folder / "segmentation.ckpt")),
                "embedding": str(_save(_embedding(), folder / "embedding.ckpt")),
                "plda": str(_plda(folder / "plda")),
                "clustering": "VBxClustering",
                "segmentation_step": 0.5,
                "embedding_batch_size": 32,
                "segmentation_batch_size": 32,
            },
        },
        "params": {"segmentation": {"min_duration_off": 0.0},
                   "clustering": {"threshold": 0.6, "Fa": 0.07, "Fb": 0.8}},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path
