"""The ``core`` plugin folder (loaded through pluginbase, like installed plugins)."""
