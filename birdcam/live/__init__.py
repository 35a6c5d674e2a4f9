"""Live: frame sources, capture threads, the inference process, the pipeline, headless mode."""
