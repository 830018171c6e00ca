"""Inference: preprocessing of face crops, model runners (torch / ONNX Runtime), the Detector API."""
