"""CPT-HuBERT (SEEDS.md section 5): frame-level emotional state alignment of HuBERT, as resumable stages.

Stages (each a library function and a ``serkit hubert`` command, writing into one experiment folder):

=============== ====================================================================================================
``features``    layer-k hidden states of every utterance of a manifest, sharded (:mod:`serkit.cpt.features`)
``kmeans``      scikit-learn MiniBatchKMeans on the frames of a list of utterances (:mod:`serkit.cpt.kmeans`)
``labels``      nearest centroid per frame: the pseudo-label lists of pre-training (:mod:`serkit.cpt.labels`)
``pretrain``    HuBERT masked prediction on those labels, on Accelerate (:mod:`serkit.cpt.pretrain`)
``export``      the pre-trained encoder as a ``save_pretrained`` folder (:mod:`serkit.cpt.export`)
``chain``       all phases for every fold, with fine-tuning through the normal runner (:mod:`serkit.cpt.chain`)
=============== ====================================================================================================

Pre-training's model and loss are in :mod:`serkit.cpt.pretrain_model`, its length-bucketed, stride-aligned batches
in :mod:`serkit.cpt.batching`, its settings in :mod:`serkit.cpt.pretrain_config`. Fine-tuning is the registered
model ``hubert_ser`` (:mod:`serkit.models.hubert`).
"""
