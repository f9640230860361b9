"""The built-in ``connectors`` plugin folder (loaded through pluginbase)."""
