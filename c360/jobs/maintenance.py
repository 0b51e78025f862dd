"""spark-submit entry point: apply the retention policies as of --run-date (delta-rs only)."""

from __future__ import annotations

from c360.jobs._common import parser, run_job
from c360.pipeline import RunContext


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__ or "").parse_args(argv)

    def body(ctx: RunContext) -> str:
        from c360.maintenance import apply_retention

        def summary(done: list) -> str:
            rows = sum(t.rows_removed for t in done)
            vacuumed = sum(len(t.files_vacuumed) for t in done)
            compacted = sum(len(t.compacted) for t in done)
            return (
                f"{len(done)} tables: {rows} expired rows removed, {compacted} partitions of small files compacted, "
                f"{vacuumed} old files vacuumed"
            )

        done = ctx.step(
            "maintenance", args.run_date, lambda: apply_retention(ctx.storage.catalog, args.run_date), summary
        )
        return f"maintenance {args.run_date}: {summary(done)}"

    run_job(args, body)


if __name__ == "__main__":
    main()
