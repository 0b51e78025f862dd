"""spark-submit entry points: ``spark-submit c360/jobs/<step>.py --run-date D [...]``.

Each job is thin: it wires settings, Spark and storage, then calls the same pipeline
function the CLI and Airflow call. The settings come from ``C360_*`` variables.
"""
