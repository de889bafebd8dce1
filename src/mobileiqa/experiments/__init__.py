"""Experiments that train models and are not part of ``dvc repro`` (``mobileiqa benchmark``): the student ablation
and leave-one-distortion-group-out. They sit beside the stages: typed config in, training and evaluation runs,
cached results out."""
