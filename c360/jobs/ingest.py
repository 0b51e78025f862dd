"""spark-submit entry point: ingest the extract of --run-date from --source into the raw tier."""

from __future__ import annotations

from pathlib import Path

from c360.jobs._common import add_sources, parser, run_job
from c360.pipeline import RunContext, ingest_step, ingest_summary


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__ or "")
    p.add_argument("--source", required=True, type=Path, help="folder of extracts")
    add_sources(p)
    args = p.parse_args(argv)

    def body(ctx: RunContext) -> str:
        report = ctx.step(
            "ingest", args.run_date, lambda: ingest_step(ctx, args.source, args.run_date, args.sources), ingest_summary
        )
        return f"ingest {args.run_date}: {ingest_summary(report)}"

    run_job(args, body)


if __name__ == "__main__":
    main()
