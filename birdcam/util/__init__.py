"""Small helpers every stage uses: files, native logs, desktop notices, progress lines."""
