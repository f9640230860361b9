"""Workspace import/export: file readers and writers that stream in batches."""
