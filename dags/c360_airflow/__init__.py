"""Shared building blocks for the c360 DAGs: step registry, task factory, failure notifier.

Lives beside the DAG files (the dags folder is on ``sys.path`` for the processor and the
workers) and imports only the standard library and the Airflow SDK, so parsing a DAG never
pulls in pyspark or c360.
"""
