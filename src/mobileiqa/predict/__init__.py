"""Score images with a trained or exported model: ``Predictor.from_path(path)(images) -> scores``.

Backends are chosen from the file: ``.pt`` (a mobileiqa checkpoint, PyTorch), ``.onnx`` (fp32 or int8) and
``.ort`` (onnxruntime); ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` loads the ONNX file of an MLflow
registry version (e.g. the ``@champion``). Preprocessing is the one shared path,
:func:`mobileiqa.data.images.prepare_image`: decode (EXIF orientation applied, 8-bit RGB), the model's
:class:`~mobileiqa.preprocess.ResolutionPolicy` (from the checkpoint's training metadata or the exported file's
metadata; the default policy when a checkpoint has none), and the model's own normalisation
(:class:`~mobileiqa.preprocess.Normalisation`, from the checkpoint or the file's metadata; ImageNet's when an older
file has none). No random crops: scores are deterministic, on the model's declared
:class:`~mobileiqa.scale.QualityScale` (``predictor.scale``; bounded scores are clipped to the bounds to
absorb float rounding).

For many files, :func:`~.inputs.iter_files` expands files, folders (recursively) and globs lazily,
:meth:`Predictor.score_files` streams results, so memory stays bounded on folders of 10,000+ images (a file that
cannot be decoded yields an error result instead of stopping the batch), and :func:`~.outputs.write_scores` writes
them as CSV or JSON.

A model with explanation heads also gives each image a quality map and a spread (:meth:`Predictor.explain`,
the ``spread`` / ``quality_map`` of each :class:`Result`; ``predictor.explains``), on every backend;
:mod:`.maps` draws the map over the photo (``mobileiqa predict --maps DIR``).

Modules: :mod:`.predictor` (the :class:`Predictor` and its :class:`Result`), :mod:`.backends` (PyTorch and
onnxruntime), :mod:`.inputs` (file expansion), :mod:`.outputs` (writers), :mod:`.maps` (quality-map figures).
"""

from mobileiqa.predict.inputs import iter_files
from mobileiqa.predict.outputs import output_format, write_scores
from mobileiqa.predict.predictor import Explanations, Predictor, Result

__all__ = ["Explanations", "Predictor", "Result", "iter_files", "output_format", "write_scores"]
