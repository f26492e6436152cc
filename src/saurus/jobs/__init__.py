"""Training jobs: records in SQLite, uploaded data, and a queue that runs `saurus train`
in separate processes (saurus.jobs.store, uploads, runner, progress)."""
