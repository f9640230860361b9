"""The engine's calls: every method a client may ``Call``, with what it takes and returns.

This is the documented API: a test checks that the engine handles exactly these. The
frames that carry calls are in :mod:`engine.messages`.
"""

from __future__ import annotations

from engine.messages_ai import AI_METHODS

METHODS: dict[str, str] = {
    "status": "engine pid, version, socket, uptime, active runs",
    "shutdown": "stop the engine (triggers, runs, workers) and exit",
    "subscribe": "stream run and trigger events to this connection",
    "workflows.list": "saved workflows with trigger state and last run",
    "workflows.get": "one workflow document {id}",
    "workflows.save": "save a workflow document {doc}; re-registers its trigger",
    "workflows.rename": "{id, name}",
    "workflows.duplicate": "{id, new_id?, name?}",
    "workflows.delete": "{id}; unregisters its trigger",
    "workflows.set_enabled": "{id, enabled}: switch the workflow's trigger on or off",
    "workflows.import": "{path, new_id?, force?}: check and copy a workflow file into the data directory "
                        "(invalid: refused, or a draft with force); its trigger starts off",
    "workflows.review": "{path}: what a workflow file would run and write, and its problems (nothing saved)",
    "runs.start": "{workflow_id} or {path}, {params}?, {from_node}?; returns {run_id}",
    "runs.cancel": "{run_id}",
    "runs.active": "runs in progress",
    "runs.wait": "{run_id, timeout}: the run's summary once it ended",
    "history.list": "{limit, before?, offset?, workflow_id, status, trigger}: runs newest first; before = the "
                    "last run_id listed gives the next page (offset still works but reads every row it skips)",
    "history.count": "{workflow_id, status, trigger}: how many runs match",
    "history.workflows": "workflows in the log (deleted ones too): id, latest name, run count",
    "history.get": "{run_id}",
    "history.mark_seen": "{run_id}",
    "history.pin": "{run_id, pinned}: a pinned run is never pruned",
    "history.output": "{run_id, node_id}: the workspace table holding that node's output of that run",
    "history.budget": "{days?, size?}: the history budget (size in bytes; null: no limit); given values set it",
    "history.prune": "{dry_run}: prune beyond the budget now, or list what would go",
    "triggers.list": "every registered trigger with its state",
    "connections.types": "connector types with their form fields (which are secret)",
    "connections.list": "connection metadata: settings, secret fields and which are set — never values",
    "connections.add": "{id, type, name, settings, secrets}: secrets go to the keychain only",
    "connections.edit": "{id, name?, settings?, secrets?}: replaces the given secrets",
    "connections.remove": "{id}: also deletes its secrets from the keychain",
    "connections.test": "{id}: connect in a worker and report",
    "connections.objects": "{id}: tables / objects",
    "connections.fields": "{id, object}: columns with types",
    "connections.sample": "{id, object, limit}: the first rows (scrubbed)",
    "secrets.status": "the keychain's state: ok, missing or locked, with how to fix it",
    "nodes.preview": "{workflow_id?, node, limit}: a Data Source's columns, types, first rows and findings",
    "nodes.sheets": "{workflow_id?, path}: the sheet names of a spreadsheet file",
    "nodes.try": "{workflow_id, node, limit, inputs?, sample, workflow?}: run a node on copies of samples of its "
                 "inputs; inputs that never ran are computed on a sample (reply: provenance, inputs)",
    "nodes.input_columns": "{workflow_id, node_id, inputs?, workflow?}: each input's columns (sampled if never run)",
    "plugins.list": "every loaded plugin: version, built-in or installed, status (ok / quarantined + error), "
                    "what it adds, kept earlier versions",
    "plugins.search": "{text}: catalog plugins from the verified index, with installed version and update flag",
    "plugins.install": "{name, version?}: download, verify, smoke-test, switch; PluginProgress events; reloads",
    "plugins.update": "{name?}: install newer catalog versions; reloads",
    "plugins.remove": "{name}: remove a catalog plugin; reloads",
    "plugins.rollback": "{name}: switch back to the previous kept version (offline); reloads",
    "plugins.reload": "reload plugins now (refused with the reason while a run is active)",
    "tables.page": "{table, connection?, offset, limit, order_by?, descending?, search?}: one page of a result "
                   "table, wherever it lives, optionally sorted by a column and (workspace) filtered by text",
    "ai.assist_node": "{workflow_id, node_id, request, session?, connection?, model?, options?}: a proposal for "
                      "the node, verified on the sample (status verified / failed / question); with session, "
                      "the request and answer are recorded in it",
    "ai.assist_start": "{workflow_id, node_id, request, call_id, session?, connection?, model?, options?}: "
                       "ai.assist_node in the background, recorded in the node's chat session; returns "
                       "{call_id, session_id}; AiDelta events then one AiProposalFinished; ai.cancel stops it",
    "ai.accept_proposal": "{workflow_id, proposal_id}: save a verified proposal as the node's config + provenance",
    "ai.get_proposal": "{proposal_id}: a proposal as it was returned",
    "ai.provenance": "{workflow_id}: {node id: generated | edited} for AI-written nodes",
    "ai.propose_workflow": "{request, connection?, model?, options?}: a workflow proposal, valid or with its "
                           "problems",
}

METHODS.update(AI_METHODS)
