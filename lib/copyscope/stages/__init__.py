"""The pipeline's stages, one module each, named like the DVC stage that runs it (`python -m copyscope STAGE`):
params (deep validation and the values each stage reads), prepare, train, extractors, alignment, notebook.
What the stages write is read back through `copyscope.artifacts`."""
