"""``c360 privacy ...``: erasure on request (docs/privacy.md)."""

from __future__ import annotations

import typer
from rich.table import Table

from c360.cli.state import make_console, state

app = typer.Typer(help="Privacy: erase a customer from every tier and version (docs/privacy.md).", no_args_is_help=True)
console = make_console()


@app.command("erase")
def erase(
    customer_id: str = typer.Option(..., "--customer-id", help="The customer (CRM id) to erase."),
    request: str = typer.Option(..., "--request", help="The request's reference (ticket); the audit is kept under it."),
) -> None:
    """Remove a customer from every table and every retained version, keep them out of later
    runs, and record the request in ops.privacy.erasure_requests (no PII)."""
    from c360.privacy.erase import check_request, erase_customer
    from c360.storage import LakeCatalog

    check_request(customer_id, request)  # a request lacking its id or reference fails before anything starts
    settings = state.settings
    catalog = LakeCatalog(settings.lake_root)
    report = erase_customer(catalog, customer_id, request, settings.pseudonym_key_bytes(), settings.export_dir)
    out = Table("table", "version", "rows removed", "files rewritten", "files purged", "log entries purged")
    for t in report.tables:
        out.add_row(
            t.table,
            str(t.version),
            str(t.rows_removed),
            str(len(t.files_rewritten)),
            str(len(t.files_purged)),
            str(t.log_entries_purged),
        )
    console.print(out)
    console.print(
        f"request {report.request_ref}: {report.rows_removed} row(s) removed from {len(report.tables)} table(s); "
        f"{len(report.exports_before)} export(s) recorded before the request; subject hash {report.subject_hash[:16]}…"
    )
    if report.exports_purged:
        console.print(
            f"deleted {len(report.exports_purged)} of the server's export files that may hold the customer "
            f"(under {settings.export_dir}); a version still asked for is exported again, without them"
        )
    if not report.tables and not report.files_redacted:
        console.print(
            f"[yellow]warning:[/] customer {customer_id.strip()!r} is in no table or file of this lake, so nothing "
            "was removed. The request is recorded and the id is kept out of later runs; if the id was mistyped, "
            "erase the right one under the same request."
        )
