"""Importing models made elsewhere: PyTorch modules (torch.fx) and ONNX files, as DeepWire projects.

Entry point: `runtime.importing.importer.run_import`. The pieces: source
(finding the model), fx_import / onnx_import (converting a graph), fx_modules
and fx_functions (what each operation becomes), network_builder (growing the
network, problems, layout), project_writer (project and weights on disk).
"""
