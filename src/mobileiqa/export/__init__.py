"""Mobile export: ONNX, ORT format, int8 quantisation, embedded metadata."""
