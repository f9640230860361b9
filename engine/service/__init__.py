"""The background engine service: IPC server, run manager, triggers."""
