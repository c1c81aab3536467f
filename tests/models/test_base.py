"""The model protocol (serkit.models.base): every registered model declares its capabilities as attributes."""

from __future__ import annotations

import pytest
import torch
from test_all_models import NUM_CLASSES, TINY

from serkit.models import create_model, list_models, model_class
from serkit.models.base import INPUT_KINDS, InputSpec, SERModel

#: The declared capabilities, each with its type; a model may override the defaults, never drop one.
DECLARED = {
    "input_spec": InputSpec,
    "takes_text_ids": bool,
    "takes_text_embeddings": bool,
    "fits_in_closed_form": bool,
    "initial_weight_args": tuple,
    "init_note": str,
}


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_class_declares_the_protocol(name):
    cls = model_class(name)
    assert issubclass(cls, SERModel)
    for attribute, kind in DECLARED.items():
        assert isinstance(getattr(cls, attribute), kind), f"{cls.__name__}.{attribute}"
    assert cls.input_spec.kind in INPUT_KINDS
    assert not (cls.takes_text_ids and cls.takes_text_embeddings)
    for method in (
        "forward_features",
        "forward_head",
        "init_from_stage",
        "init_text_embeddings",
        "example_input",
    ):
        assert callable(getattr(cls, method))


@pytest.mark.parametrize("name", list_models())
def test_built_model_is_its_declared_class_with_consistent_attributes(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=NUM_CLASSES, **TINY[name])
    assert type(model) is model_class(name)
    assert model.model_name == name and model.model_args["num_classes"] == NUM_CLASSES
    assert model.input_shape is None or (
        len(model.input_shape) == 2 and all(v > 0 for v in model.input_shape)
    )
    if model.takes_text_embeddings:
        assert model.text_dim > 0
    if model.takes_text_ids:
        assert model.vocab_size > 2
    if model.fits_in_closed_form:  # overrides the base's NotImplementedError
        assert type(model).fit_chunks is not SERModel.fit_chunks
    # the factory arguments that only load starting weights are arguments of some factory of the class
    assert all(isinstance(arg, str) for arg in model.initial_weight_args)


def test_the_declared_values_of_the_families():
    assert model_class("linear_svm").fits_in_closed_form
    assert [n for n in list_models() if model_class(n).fits_in_closed_form] == [
        "linear_svm",
        "linear_svr",
        "rbf_svm",
        "ridge",
    ]
    assert {n for n in list_models() if model_class(n).takes_text_ids} == {"mat", "mnt", "mat_text"}
    assert {n for n in list_models() if model_class(n).takes_text_embeddings} == {
        "case_compressing",
        "case_attention",
        "concat",
        "mmm",
        "text_only",
    }
    assert model_class("alexnet").initial_weight_args == ("weights",)
    assert model_class("dcnn_blstm").initial_weight_args == ("weights",)
    assert model_class("hubert_ser").input_spec == InputSpec(
        kind="waveform", feature="waveform", sample_rate=16000
    )
    assert model_class("dcnn_blstm").input_spec.kind == "images"
    assert model_class("glam").input_spec.feature == "mfcc"


def test_base_defaults_and_hooks():
    class Tiny(SERModel):
        def __init__(self) -> None:
            super().__init__()
            self.num_classes, self.num_features, self.hidden_dim = 2, 3, 3
            self.head = torch.nn.Linear(3, 2)

    model = Tiny()
    assert list(model.state_dict()) == ["head.weight", "head.bias"]  # the base adds no parameter or buffer
    assert model.input_spec == InputSpec() and model.input_shape is None and model.init_note == ""
    assert not (model.takes_text_ids or model.takes_text_embeddings or model.fits_in_closed_form)
    other = Tiny()
    model.init_from_stage(other.state_dict())  # default: the whole state dict
    assert torch.equal(model.head.weight, other.head.weight)
    model.init_text_embeddings(torch.zeros(4, 2))  # default: ignored
    features, lengths = model.example_input(4)
    assert features.shape == (4, 20, 3) and lengths.tolist() == [20, 15, 7, 20]
    with pytest.raises(NotImplementedError, match="fits_in_closed_form"):
        model.fit_chunks(None)
    with pytest.raises(ValueError, match="kind"):
        InputSpec(kind="spectrogram")


def test_model_class_refuses_an_unannotated_factory(monkeypatch):
    from serkit.models import MODELS

    def unannotated(*, num_classes):
        return torch.nn.Linear(1, num_classes)

    monkeypatch.setitem(MODELS._entries, "unannotated_test_model", unannotated)
    with pytest.raises(TypeError, match="SERModel"):
        model_class("unannotated_test_model")
    with pytest.raises(TypeError, match="SERModel"):
        create_model("unannotated_test_model", num_classes=2)
