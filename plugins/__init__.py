"""Built-in plugins, loaded through the same plugin mechanism as installed ones."""
